package config

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
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
		"ProxyModeNeedsTrustedProxies":  {env: env("CHAT_AUTH_MODE", "proxy"), wantErr: "CHAT_TRUSTED_PROXIES"},
		"BadTrustedProxyIsNamed":        {env: env("CHAT_AUTH_MODE", "proxy", "CHAT_TRUSTED_PROXIES", "10.0.0.0/33"), wantErr: "CHAT_TRUSTED_PROXIES"},
		"TrustedProxyAddressIsAHost":    {env: env("CHAT_AUTH_MODE", "proxy", "CHAT_TRUSTED_PROXIES", "10.1.2.3"), check: func(c *Config) bool { return c.TrustedProxies[0].String() == "10.1.2.3/32" }},
		"OneCAForAllIsRefused":          {env: env("CHAT_CA_FILE", "/ca.crt"), wantErr: "CHAT_KAFKA_CA_FILE"},
		"BadReplicationIsNamed":         {env: env("CHAT_KAFKA_REPLICATION_FACTOR", "0"), wantErr: "CHAT_KAFKA_REPLICATION_FACTOR"},
		"BadLogLevelIsNamed":            {env: env("CHAT_LOG_LEVEL", "loud"), wantErr: "CHAT_LOG_LEVEL"},
		"ProxyModeNeedsNoAdminPassword": {env: env("CHAT_AUTH_MODE", "proxy", "CHAT_ADMINS", "alice", "CHAT_TRUSTED_PROXIES", "10.0.0.0/8"), check: func(c *Config) bool { return c.AuthMode == "proxy" }},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := Parse("chatserver", tt.args, tt.env, io.Discard)
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
	_, err := Parse("chatserver", []string{"-h"}, env(), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	for _, s := range (&Config{}).settings() {
		if !strings.Contains(out.String(), s.env) {
			t.Errorf("-h does not mention %s", s.env)
		}
	}
}
