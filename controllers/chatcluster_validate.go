package controllers

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// valueRule checks one key of an external backend's Secret the way the
// chat server will read it, so that a malformed value shows in the status
// instead of in a crash-looping pod. want describes the expected form; it
// never quotes the value, which may hold a password.
type valueRule struct {
	key  string
	want string
	// optional: an empty value means the default, not an error.
	optional bool
	valid    func(v string) bool
}

// valueRules are the rules of each backend's Secret, by backend name.
var valueRules = map[string][]valueRule{
	"redis": {{
		key: "url", want: "a URL starting with redis:// or rediss://, such as redis://redis.example:6379",
		valid: func(v string) bool { return hasScheme(v, "redis", "rediss") },
	}},
	"mongodb": {{
		key: "uri", want: "a connection string starting with mongodb:// or mongodb+srv://, such as mongodb://mongo.example:27017/chat",
		valid: func(v string) bool {
			return hasHost(v, "mongodb://") || hasHost(v, "mongodb+srv://")
		},
	}},
	"kafka": {
		{
			key: "brokers", want: "a comma-separated list of host:port, such as kafka-0.example:9092,kafka-1.example:9092",
			valid: func(v string) bool {
				n := 0
				for _, b := range strings.Split(v, ",") {
					if b = strings.TrimSpace(b); b != "" {
						if strings.Contains(b, "://") {
							return false
						}
						n++
					}
				}
				return n > 0
			},
		},
		{
			key: "tls", want: "true or false", optional: true,
			valid: func(v string) bool { _, err := strconv.ParseBool(v); return err == nil },
		},
		{
			key: "mechanism", want: "plain, scram-sha-256 or scram-sha-512", optional: true,
			valid: func(v string) bool {
				switch strings.ToLower(strings.TrimSpace(v)) {
				case "plain", "scram-sha-256", "scram-sha-512":
					return true
				}
				return false
			},
		},
	},
	"elasticsearch": {{
		key: "url", want: "a URL starting with http:// or https://, such as https://es.example:9200",
		valid: func(v string) bool { return hasScheme(v, "http", "https") },
	}},
}

// invalidValue reports the first key of data, among those the backend
// reads, whose value the chat server would refuse: its name and the form it
// should have. A key that is absent is not reported (missing does that).
func invalidValue(b *backend, data map[string][]byte) (key, want string) {
	for _, rule := range valueRules[b.name] {
		v, ok := data[rule.key]
		if !ok || (rule.optional && len(v) == 0) {
			continue
		}
		if !rule.valid(strings.TrimSpace(string(v))) {
			return rule.key, rule.want
		}
	}
	return "", ""
}

func hasScheme(v string, schemes ...string) bool {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return false
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return true
		}
	}
	return false
}

func hasHost(v, prefix string) bool {
	rest, ok := strings.CutPrefix(v, prefix)
	return ok && rest != "" && rest[0] != '/'
}

// invalidMessage is the condition message for an invalid key.
func invalidMessage(secret, backend, key, want string) string {
	return fmt.Sprintf("Secret %q for %s: key %q must be %s", secret, backend, key, want)
}
