package main

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/chatcluster/chatcluster/test/platform/standins/internal/proctest"
)

func TestMain(m *testing.M) { proctest.Main(m, main) }

func TestProcess(t *testing.T) {
	dir := t.TempDir()
	port := proctest.FreePort(t)
	p := proctest.Start(t, map[string]string{"HOME": "/data/db"}, "--bind_ip_all", "--port", port, "--dbpath", dir)
	p.WaitPort(t, "127.0.0.1:"+port, 60*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := mongo.Connect(options.Client().ApplyURI("mongodb://127.0.0.1:" + port + "/chat").SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Disconnect(context.Background()) }()
	if err := c.Ping(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Database("chat").Collection("users").InsertOne(ctx, bson.M{"_id": "alice"}); err != nil {
		t.Fatal(err)
	}
	p.Stop(t)
}

func TestProcess_RefusesOptionsItCannotHonour(t *testing.T) {
	p := proctest.Start(t, nil, "--auth", "--dbpath", t.TempDir())
	if code := p.Wait(20 * time.Second); code != 2 {
		t.Fatalf("--auth: status %d\n%s", code, p.Stderr())
	}
}
