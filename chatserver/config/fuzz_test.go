package config

import (
	"errors"
	"maps"
	"math"
	"net"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

// secretMark ends every fuzzed value of a secret setting: it must never
// appear in an error.
const secretMark = "\u00a7secret\u00a7"

// FuzzParse sets two variables (i and j pick them from Variables) to fuzzed
// values. A refusal is a configuration error, not a protocol one, each of
// its lines names a variable that was set, and it never shows a secret. An
// accepted configuration is within every setting's documented bounds, and
// the same values given as flags give the same configuration.
func FuzzParse(f *testing.F) {
	vars := Variables()
	seeds := [][2]string{
		{EnvRateBurst, "0"}, {EnvRateLimit, "NaN"}, {EnvRateLimit, "Inf"}, {EnvRateLimit, "-0"}, {EnvRateLimit, "0x1p4"},
		{EnvSendQueue, "65535"}, {EnvSendQueue, "9223372036854775808"}, {EnvSessionTTL, "-1s"}, {EnvSessionTTL, "1"},
		{EnvShutdownTimeout, "2562047h47m16.854775808s"}, {EnvKafkaRetention, "59s"}, {EnvKafkaReplicationFactor, "0"},
		{EnvAddr, "nohost"}, {EnvAddr, "[::1]:8080"}, {EnvManagementAddr, ":"}, {EnvAuthMode, "Proxy"}, {EnvAuthMode, "proxy"},
		{EnvTrustedProxies, "10.0.0.0/8, ::1,,"}, {EnvTrustedProxies, "10.0.0.0/33"}, {EnvAdmins, "Admin,bob"}, {EnvAdmins, "a_b"},
		{EnvAdminPassword, "short"}, {EnvAllowedOrigins, "https://a.example,,http://b:8080"}, {EnvAllowedOrigins, "a.example"},
		{EnvRedisURL, "http://user:pw@host"}, {EnvRedisURL, "rediss://host:6380/0"}, {EnvMongoDBURI, "mongodb+srv://h"},
		{EnvElasticsearchURL, "ftp://h"}, {EnvKafkaMechanism, "SCRAM-SHA-512"}, {EnvKafkaMechanism, "gssapi"},
		{EnvLogLevel, "INFO"}, {EnvPprof, "T"}, {EnvFsync, "yes"}, {EnvProxyHeader, " "}, {EnvKafkaBrokers, " , "},
	}
	index := func(name string) uint8 { return uint8(slices.Index(vars, name)) }
	for i, s := range seeds {
		other := seeds[(i+1)%len(seeds)]
		f.Add(index(s[0]), s[1], index(other[0]), other[1])
	}
	f.Add(index(EnvAuthMode), "proxy", index(EnvTrustedProxies), "127.0.0.1")
	f.Add(index(EnvAdmins), "admin", index(EnvAdminPassword), "12345678")
	f.Add(index(EnvAdmins), "admin", index(EnvAuthMode), "proxy")
	secrets := secretVariables()
	f.Fuzz(func(t *testing.T, i uint8, v string, j uint8, w string) {
		set := map[string]string{}
		for _, kv := range [][2]string{{vars[int(j)%len(vars)], w}, {vars[int(i)%len(vars)], v}} {
			if secrets[kv[0]] {
				kv[1] += secretMark
			}
			set[kv[0]] = kv[1]
		}
		c, err := parse(nil, func(k string) string { return set[k] })
		var args []string
		for name, value := range set {
			if value != "" {
				args = append(args, "-"+flagName(name)+"="+value)
			}
		}
		fromFlags, flagErr := parse(args, env())
		if err != nil {
			checkFuzzedRefusal(t, err, set)
			if flagErr == nil {
				t.Fatalf("%q refused as variables (%v), accepted as flags %q", set, err, args)
			}
			return
		}
		checkBounds(t, c)
		if flagErr != nil || !reflect.DeepEqual(c, fromFlags) {
			t.Fatalf("%q as variables gave %+v, as flags %q gave %+v, %v", set, c, args, fromFlags, flagErr)
		}
	})
}

// checkFuzzedRefusal checks a refusal of the variables in set.
func checkFuzzedRefusal(t *testing.T, err error, set map[string]string) {
	t.Helper()
	if _, ok := errors.AsType[*chatserver.Error](err); ok {
		t.Fatalf("%v is a protocol error, not a configuration error", err)
	}
	if strings.Contains(err.Error(), secretMark) {
		t.Fatalf("the error shows a secret: %v", err)
	}
	for line := range strings.Lines(err.Error()) {
		if !slices.ContainsFunc(slices.Collect(maps.Keys(set)), func(name string) bool { return strings.Contains(line, name) }) {
			t.Fatalf("%q refused with %q, which names none of them", set, line)
		}
	}
}

// checkBounds checks an accepted configuration against the documented
// values of each setting and the rules across settings.
func checkBounds(t *testing.T, c *Config) {
	t.Helper()
	var bad []string
	check := func(ok bool, what string) {
		if !ok {
			bad = append(bad, what)
		}
	}
	check(c.RateLimit >= 0 && !math.IsNaN(c.RateLimit), "rate limit >= 0")
	check(c.RateBurst >= 1 && c.SendQueue >= 64<<10 && c.KafkaPartitions >= 1 && c.IndexerBatch >= 1, "counts within bounds")
	check(c.KafkaReplication >= 1 || c.KafkaReplication == -1, "replication factor >= 1 or -1")
	check(c.SessionTTL > 0 && c.ShutdownTimeout > 0 && c.KafkaRetention >= time.Minute && c.ElasticRetention >= time.Hour, "durations within bounds")
	check(slices.Contains([]string{"password", "proxy"}, c.AuthMode), "auth mode password or proxy")
	check(slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel), "a log level")
	check(c.KafkaMechanism == "" || slices.ContainsFunc([]string{"plain", "scram-sha-256", "scram-sha-512"},
		func(m string) bool { return strings.EqualFold(m, c.KafkaMechanism) }), "a SASL mechanism")
	check(c.AuthMode != "proxy" || len(c.TrustedProxies) > 0, "trusted proxies in proxy mode")
	check(c.AuthMode != "password" || len(c.Admins) == 0 || len([]rune(c.AdminPassword)) >= chatserver.MinPasswordLen &&
		len([]rune(c.AdminPassword)) <= chatserver.MaxPasswordLen, "an admin password of valid length with admins")
	check(c.ProxyHeader != "" && c.KafkaTopic != "", "names not empty")
	check(hostPort(c.Addr) && (c.ManagementAddr == "" || hostPort(c.ManagementAddr)), "listen addresses")
	check(!slices.ContainsFunc(c.Admins, func(id string) bool { return !chatserver.ValidUserID(id) }), "admins are user ids")
	check(!slices.ContainsFunc(c.AllowedOrigins, func(o string) bool {
		u, err := url.Parse(o)
		return err != nil || u.Scheme == "" || u.Host == ""
	}), "origins are URLs with scheme and host")
	check(!slices.ContainsFunc(c.KafkaBrokers, func(b string) bool { return strings.TrimSpace(b) != b || b == "" }), "brokers trimmed")
	for _, u := range []struct {
		url     string
		schemes []string
	}{{c.RedisURL, []string{"redis://", "rediss://"}}, {c.MongoURI, []string{"mongodb://", "mongodb+srv://"}}, {c.ElasticURL, []string{"http://", "https://"}}} {
		check(u.url == "" || slices.ContainsFunc(u.schemes, func(s string) bool { return strings.HasPrefix(u.url, s) }), "backend URLs of their schemes")
	}
	if len(bad) > 0 {
		t.Fatalf("accepted %+v, which breaks: %s", c, strings.Join(bad, "; "))
	}
}

func hostPort(addr string) bool {
	_, _, err := net.SplitHostPort(addr)
	return err == nil
}
