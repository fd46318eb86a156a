package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatcluster/chatcluster/chatserver/chattest"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestConfig(t *testing.T) {
	tests := map[string]struct {
		args    []string
		env     func(string) string
		wantErr string
		check   func(*Config) bool
	}{
		"DefaultsNeedNothing": {env: env(), check: func(c *Config) bool {
			return c.Addr == ":8080" && c.DataDir == "./data" && c.AuthMode == "password" && c.KafkaTopic == "chat.activity"
		}},
		"EnvironmentIsRead": {env: env("CHAT_ADDR", ":9000", "CHAT_ADMINS", "Alice, bob", "CHAT_ADMIN_PASSWORD", "longenough"), check: func(c *Config) bool {
			return c.Addr == ":9000" && len(c.Admins) == 2 && c.Admins[0] == "alice"
		}},
		"FlagWinsOverEnvironment":       {args: []string{"-addr", ":7000"}, env: env("CHAT_ADDR", ":9000"), check: func(c *Config) bool { return c.Addr == ":7000" }},
		"UnknownAuthModeIsNamed":        {env: env("CHAT_AUTH_MODE", "ldap"), wantErr: "CHAT_AUTH_MODE"},
		"AdminsNeedAPassword":           {env: env("CHAT_ADMINS", "alice"), wantErr: "CHAT_ADMIN_PASSWORD"},
		"InvalidAdminIDIsNamed":         {env: env("CHAT_ADMINS", "al_ice", "CHAT_ADMIN_PASSWORD", "longenough"), wantErr: "CHAT_ADMINS"},
		"BadOriginIsNamed":              {env: env("CHAT_ALLOWED_ORIGINS", "chat.example.com"), wantErr: "CHAT_ALLOWED_ORIGINS"},
		"BadDurationIsNamed":            {env: env("CHAT_SESSION_TTL", "forever"), wantErr: "CHAT_SESSION_TTL"},
		"BadNumberIsNamed":              {env: env("CHAT_RATE_LIMIT", "fast"), wantErr: "CHAT_RATE_LIMIT"},
		"NegativeRateIsNamed":           {env: env("CHAT_RATE_LIMIT", "-1"), wantErr: "CHAT_RATE_LIMIT"},
		"BadRedisURLIsNamed":            {env: env("CHAT_REDIS_URL", "http://x"), wantErr: "CHAT_REDIS_URL"},
		"BadMongoURIIsNamed":            {env: env("CHAT_MONGODB_URI", "mysql://x"), wantErr: "CHAT_MONGODB_URI"},
		"BadElasticsearchURLIsNamed":    {env: env("CHAT_ELASTICSEARCH_URL", "es:9200"), wantErr: "CHAT_ELASTICSEARCH_URL"},
		"UnknownKafkaMechanismIsNamed":  {env: env("CHAT_KAFKA_MECHANISM", "gssapi"), wantErr: "CHAT_KAFKA_MECHANISM"},
		"BadLogLevelIsNamed":            {env: env("CHAT_LOG_LEVEL", "loud"), wantErr: "CHAT_LOG_LEVEL"},
		"ProxyModeNeedsNoAdminPassword": {env: env("CHAT_AUTH_MODE", "proxy", "CHAT_ADMINS", "alice"), check: func(c *Config) bool { return c.AuthMode == "proxy" }},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := ParseConfig("chatserver", tt.args, tt.env, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(c) {
				t.Fatalf("%v %+v", err, c)
			}
		})
	}
}

func TestHelpDocumentsEveryVariable(t *testing.T) {
	var out bytes.Buffer
	_, err := ParseConfig("chatserver", []string{"-h"}, env(), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	for _, s := range (&Config{}).settings() {
		if !strings.Contains(out.String(), s.env) {
			t.Errorf("-h does not mention %s", s.env)
		}
	}
}

// start runs the whole server in-process on a free port with dir as its data
// directory.
func start(t *testing.T, dir string) *Main {
	t.Helper()
	cfg, err := ParseConfig("chatserver", nil, env("CHAT_ADDR", "127.0.0.1:0", "CHAT_DATA_DIR", dir,
		"CHAT_ADMINS", "admin", "CHAT_ADMIN_PASSWORD", "adminpass1", "CHAT_SHUTDOWN_TIMEOUT", "5s"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestAcknowledgedMessagesSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	m := start(t, dir)
	base := "http://" + m.Addr()
	c := chattest.Dial(t, base, chattest.Login(t, base, "alice", "password1"))
	var acked []int64
	for i := range 20 {
		f := c.Command(map[string]any{"type": "send", "room": "durable", "text": "keep me", "cid": string(rune('a' + i))})
		if !f.OK {
			t.Fatal(f.Raw)
		}
		acked = append(acked, int64(i+1))
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if code := c.WaitClosed(); code != websocket.CloseGoingAway {
		t.Fatalf("close code on shutdown %d, want 1001", code)
	}

	m2 := start(t, dir)
	base = "http://" + m2.Addr()
	tok := chattest.Login(t, base, "alice", "password1") // the account survived too
	c2 := chattest.Dial(t, base, tok)
	var p struct {
		Messages []chattest.Message
	}
	c2.OK(map[string]any{"type": "join", "room": "durable"}, &p)
	if len(p.Messages) != len(acked) {
		t.Fatalf("%d messages after restart, want %d", len(p.Messages), len(acked))
	}
	for i, msg := range p.Messages {
		if msg.Seq != acked[i] {
			t.Fatalf("message %d has seq %d", i, msg.Seq)
		}
	}
	// A retried send after the restart is still recognised by its cid.
	var r struct{ Message chattest.Message }
	c2.OK(map[string]any{"type": "send", "room": "durable", "text": "again", "cid": "a"}, &r)
	if r.Message.Seq != 1 {
		t.Fatalf("retried cid gave seq %d", r.Message.Seq)
	}
}

func TestShutdownIsBounded(t *testing.T) {
	m := start(t, t.TempDir())
	base := "http://" + m.Addr()
	tok := chattest.Login(t, base, "alice", "password1")
	for range 5 {
		chattest.Dial(t, base, tok)
	}
	began := time.Now()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > m.Config.ShutdownTimeout+time.Second {
		t.Fatalf("shutdown took %s, over its bound %s", d, m.Config.ShutdownTimeout)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
