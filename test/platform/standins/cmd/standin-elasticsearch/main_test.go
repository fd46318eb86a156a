package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/elastic"
	"github.com/chatcluster/chatcluster/test/platform/standins/internal/proctest"
)

func TestMain(m *testing.M) { proctest.Main(m, main) }

// TestProcess runs the binary as the kubelet does, with the environment the
// operator gives the elasticsearch container (plus the data path and port of
// this test), and drives it with the chat server's client across a restart.
func TestProcess(t *testing.T) {
	dir := t.TempDir()
	port := proctest.FreePort(t)
	env := map[string]string{
		"discovery.type": "single-node", "xpack.security.enabled": "false", "ES_JAVA_OPTS": "-Xms1g -Xmx1g",
		"path.data": dir, "http.port": port, "ELASTIC_PASSWORD": "sekrit-one", "bootstrap.password": "sekrit-two",
	}
	url := "http://127.0.0.1:" + port
	ctx := context.Background()
	ev := chatserver.ActivityEvent{ID: "ev-1", Type: chatserver.ActivityLogin, TS: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), User: "alice"}

	p := proctest.Start(t, env, "eswrapper")
	p.WaitPort(t, "127.0.0.1:"+port, 30*time.Second)
	c, err := elastic.New(elastic.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureTemplate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Bulk(ctx, []chatserver.ActivityEvent{ev}); err != nil {
		t.Fatal(err)
	}
	p.Stop(t)
	out := p.Stderr()
	proctest.NoSecret(t, out, "sekrit")
	if !strings.Contains(out, "bootstrap.password") {
		t.Errorf("the unused setting is not named in the log:\n%s", out)
	}

	p = proctest.Start(t, env)
	p.WaitPort(t, "127.0.0.1:"+port, 30*time.Second)
	c, _ = elastic.New(elastic.Config{URL: url})
	res, err := c.Search(ctx, chatserver.ActivityQuery{User: "alice"})
	if err != nil || res.Total != 1 || res.Events[0].ID != "ev-1" {
		t.Fatalf("after restart: %+v %v", res, err)
	}
	p.Stop(t)
}

func TestProcess_RefusesWhatItCannotBe(t *testing.T) {
	p := proctest.Start(t, map[string]string{"discovery.type": "single-node", "path.data": t.TempDir()})
	if code := p.Wait(10 * time.Second); code == 0 || code == -1 || !strings.Contains(p.Stderr(), "xpack.security.enabled") {
		t.Fatalf("security enabled (the default): status %d\n%s", code, p.Stderr())
	}
}

// TestProcess_Killed: what a bulk request acknowledged survives a SIGKILL,
// as Elasticsearch's translog makes it.
func TestProcess_Killed(t *testing.T) {
	dir := t.TempDir()
	port := proctest.FreePort(t)
	env := map[string]string{"discovery.type": "single-node", "xpack.security.enabled": "false", "path.data": dir, "http.port": port}
	url := "http://127.0.0.1:" + port
	ctx := context.Background()
	p := proctest.Start(t, env)
	p.WaitPort(t, "127.0.0.1:"+port, 30*time.Second)
	c, _ := elastic.New(elastic.Config{URL: url})
	if err := c.EnsureTemplate(ctx); err != nil {
		t.Fatal(err)
	}
	evs := []chatserver.ActivityEvent{
		{ID: "a", Type: chatserver.ActivityLogin, TS: time.Now().UTC(), User: "alice"},
		{ID: "b", Type: chatserver.ActivityLogin, TS: time.Now().UTC(), User: "bob"},
	}
	if err := c.Bulk(ctx, evs); err != nil {
		t.Fatal(err)
	}
	p.Kill(10 * time.Second)

	p = proctest.Start(t, env)
	p.WaitPort(t, "127.0.0.1:"+port, 30*time.Second)
	c, _ = elastic.New(elastic.Config{URL: url})
	res, err := c.Search(ctx, chatserver.ActivityQuery{})
	if err != nil || res.Total != 2 {
		t.Fatalf("after SIGKILL: %+v %v\n%s", res, err, p.Stderr())
	}
	p.Stop(t)
}
