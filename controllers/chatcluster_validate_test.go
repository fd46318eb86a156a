package controllers

import (
	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
	"strings"
	"testing"
)

func TestExternalSecretValues(t *testing.T) {
	tests := map[string]struct {
		backend string
		data    map[string]string
		key     string // "" when valid
	}{
		"Redis over TLS":                        {"redis", map[string]string{"url": "rediss://:p@r.example:6380/0"}, ""},
		"Redis":                                 {"redis", map[string]string{"url": "redis://r:6379"}, ""},
		"Redis over HTTP":                       {"redis", map[string]string{"url": "http://r:6379"}, "url"},
		"Redis without a scheme":                {"redis", map[string]string{"url": "r:6379"}, "url"},
		"Redis empty":                           {"redis", map[string]string{"url": ""}, "url"},
		"MongoDB":                               {"mongodb", map[string]string{"uri": "mongodb://m:27017/chat"}, ""},
		"MongoDB through DNS seed list":         {"mongodb", map[string]string{"uri": "mongodb+srv://cluster0.example/chat"}, ""},
		"MongoDB as a URL of another scheme":    {"mongodb", map[string]string{"uri": "postgres://m/chat"}, "uri"},
		"MongoDB without a host":                {"mongodb", map[string]string{"uri": "mongodb://"}, "uri"},
		"Kafka brokers":                         {"kafka", map[string]string{"brokers": "k0:9092, k1:9092"}, ""},
		"Kafka brokers empty":                   {"kafka", map[string]string{"brokers": " , "}, "brokers"},
		"Kafka brokers as URLs":                 {"kafka", map[string]string{"brokers": "kafka://k0:9092"}, "brokers"},
		"Kafka with a known mechanism":          {"kafka", map[string]string{"brokers": "k:9092", "mechanism": "SCRAM-SHA-512"}, ""},
		"Kafka with an empty mechanism":         {"kafka", map[string]string{"brokers": "k:9092", "mechanism": ""}, ""},
		"Kafka with an unknown mechanism":       {"kafka", map[string]string{"brokers": "k:9092", "mechanism": "gssapi"}, "mechanism"},
		"Kafka over TLS":                        {"kafka", map[string]string{"brokers": "k:9092", "tls": "true"}, ""},
		"Kafka with tls neither true nor false": {"kafka", map[string]string{"brokers": "k:9092", "tls": "yes"}, "tls"},
		"Elasticsearch over HTTPS":              {"elasticsearch", map[string]string{"url": "https://es:9200"}, ""},
		"Elasticsearch without a scheme":        {"elasticsearch", map[string]string{"url": "es:9200"}, "url"},
		"A missing key is for missing, not us":  {"redis", map[string]string{"password": "p"}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			data := map[string][]byte{}
			for k, v := range tc.data {
				data[k] = []byte(v)
			}
			key, want := invalidValue(backendNamed(t, tc.backend), data)
			if key != tc.key {
				t.Fatalf("invalid key %q, want %q", key, tc.key)
			}
			if key != "" && want == "" {
				t.Error("no expected form")
			}
		})
	}
}

func TestInvalidSecretMessageNamesSecretKeyAndForm(t *testing.T) {
	var redis *backend
	for _, b := range backends {
		if b.name == "redis" {
			redis = b
		}
	}
	s := observeSecret(redis, "my-redis", secret("my-redis", map[string]string{"url": "http://:hunter2@r:6379"}))
	if s.ready || s.reason != chatv1.ReasonSecretInvalid {
		t.Fatalf("state %+v", s)
	}
	for _, part := range []string{`"my-redis"`, `"url"`, "redis://", "rediss://"} {
		if !strings.Contains(s.message, part) {
			t.Errorf("message %q lacks %s", s.message, part)
		}
	}
	if strings.Contains(s.message, "hunter2") {
		t.Errorf("message %q quotes the value", s.message)
	}
}
