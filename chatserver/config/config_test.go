package config

import (
	"bytes"
	"errors"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"maps"
	"net"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func parse(args []string, getenv func(string) string) (*Config, error) {
	return Parse("chatserver", args, getenv, io.Discard)
}

func defaults(t *testing.T) *Config {
	t.Helper()
	c, err := parse(nil, env())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func cidrs(ns []*net.IPNet) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.String()
	}
	return out
}

// sample is a valid value of one setting other than its default, and the
// field it must fill.
type sample struct {
	value string
	with  []string // other variables the value needs
	got   func(*Config) any
	want  any
}

var samples = map[string]sample{
	EnvAddr:                   {value: "127.0.0.1:9000", got: func(c *Config) any { return c.Addr }, want: "127.0.0.1:9000"},
	EnvManagementAddr:         {value: ":9090", got: func(c *Config) any { return c.ManagementAddr }, want: ":9090"},
	EnvAllowedOrigins:         {value: "https://a.example, https://b.example", got: func(c *Config) any { return c.AllowedOrigins }, want: []string{"https://a.example", "https://b.example"}},
	EnvInstanceID:             {value: "pod-1", got: func(c *Config) any { return c.InstanceID }, want: "pod-1"},
	EnvShutdownTimeout:        {value: "30s", got: func(c *Config) any { return c.ShutdownTimeout }, want: 30 * time.Second},
	EnvAuthMode:               {value: "proxy", with: []string{EnvTrustedProxies, "10.0.0.0/8"}, got: func(c *Config) any { return c.AuthMode }, want: "proxy"},
	EnvProxyHeader:            {value: "X-User", got: func(c *Config) any { return c.ProxyHeader }, want: "X-User"},
	EnvTrustedProxies:         {value: "10.1.2.3, 10.0.0.0/8,,fd00::/8", got: func(c *Config) any { return cidrs(c.TrustedProxies) }, want: []string{"10.1.2.3/32", "10.0.0.0/8", "fd00::/8"}},
	EnvSessionKey:             {value: "k3y", got: func(c *Config) any { return c.SessionKey }, want: "k3y"},
	EnvSessionTTL:             {value: "1h", got: func(c *Config) any { return c.SessionTTL }, want: time.Hour},
	EnvAdmins:                 {value: "Alice, bob", with: []string{EnvAdminPassword, "longenough"}, got: func(c *Config) any { return c.Admins }, want: []string{"alice", "bob"}},
	EnvAdminPassword:          {value: "longenough", got: func(c *Config) any { return c.AdminPassword }, want: "longenough"},
	EnvRateLimit:              {value: "2.5", got: func(c *Config) any { return c.RateLimit }, want: 2.5},
	EnvRateBurst:              {value: "7", got: func(c *Config) any { return c.RateBurst }, want: 7},
	EnvSendQueue:              {value: "65536", got: func(c *Config) any { return c.SendQueue }, want: 65536},
	EnvLogLevel:               {value: "debug", got: func(c *Config) any { return c.LogLevel }, want: "debug"},
	EnvPprof:                  {value: "true", got: func(c *Config) any { return c.Pprof }, want: true},
	EnvDataDir:                {value: "/var/lib/chat", got: func(c *Config) any { return c.DataDir }, want: "/var/lib/chat"},
	EnvFsync:                  {value: "false", got: func(c *Config) any { return c.Fsync }, want: false},
	EnvRedisURL:               {value: "rediss://redis:6379/0", got: func(c *Config) any { return c.RedisURL }, want: "rediss://redis:6379/0"},
	EnvRedisPassword:          {value: "rp", got: func(c *Config) any { return c.RedisPassword }, want: "rp"},
	EnvRedisCAFile:            {value: "/ca/redis.crt", got: func(c *Config) any { return c.RedisCAFile }, want: "/ca/redis.crt"},
	EnvMongoDBURI:             {value: "mongodb+srv://m.example", got: func(c *Config) any { return c.MongoURI }, want: "mongodb+srv://m.example"},
	EnvMongoDBDatabase:        {value: "chat2", got: func(c *Config) any { return c.MongoDatabase }, want: "chat2"},
	EnvMongoDBCAFile:          {value: "/ca/mongo.crt", got: func(c *Config) any { return c.MongoDBCAFile }, want: "/ca/mongo.crt"},
	EnvKafkaBrokers:           {value: "k1:9092,k2:9092", got: func(c *Config) any { return c.KafkaBrokers }, want: []string{"k1:9092", "k2:9092"}},
	EnvKafkaTopic:             {value: "events", got: func(c *Config) any { return c.KafkaTopic }, want: "events"},
	EnvKafkaUsername:          {value: "ku", got: func(c *Config) any { return c.KafkaUsername }, want: "ku"},
	EnvKafkaPassword:          {value: "kp", got: func(c *Config) any { return c.KafkaPassword }, want: "kp"},
	EnvKafkaMechanism:         {value: "SCRAM-SHA-512", got: func(c *Config) any { return c.KafkaMechanism }, want: "SCRAM-SHA-512"},
	EnvKafkaTLS:               {value: "true", got: func(c *Config) any { return c.KafkaTLS }, want: true},
	EnvKafkaCAFile:            {value: "/ca/kafka.crt", got: func(c *Config) any { return c.KafkaCAFile }, want: "/ca/kafka.crt"},
	EnvKafkaPartitions:        {value: "12", got: func(c *Config) any { return c.KafkaPartitions }, want: 12},
	EnvKafkaReplicationFactor: {value: "3", got: func(c *Config) any { return c.KafkaReplication }, want: 3},
	EnvKafkaRetention:         {value: "48h", got: func(c *Config) any { return c.KafkaRetention }, want: 48 * time.Hour},
	EnvElasticsearchURL:       {value: "https://es:9200", got: func(c *Config) any { return c.ElasticURL }, want: "https://es:9200"},
	EnvElasticsearchUsername:  {value: "eu", got: func(c *Config) any { return c.ElasticUsername }, want: "eu"},
	EnvElasticsearchPassword:  {value: "ep", got: func(c *Config) any { return c.ElasticPassword }, want: "ep"},
	EnvElasticsearchAPIKey:    {value: "ek", got: func(c *Config) any { return c.ElasticAPIKey }, want: "ek"},
	EnvElasticsearchIndex:     {value: "acts", got: func(c *Config) any { return c.ElasticIndex }, want: "acts"},
	EnvElasticsearchCAFile:    {value: "/ca/es.crt", got: func(c *Config) any { return c.ElasticCAFile }, want: "/ca/es.crt"},
	EnvElasticsearchRetention: {value: "2160h", got: func(c *Config) any { return c.ElasticRetention }, want: 2160 * time.Hour},
	EnvIndexerGroup:           {value: "ix", got: func(c *Config) any { return c.IndexerGroup }, want: "ix"},
	EnvIndexerBatch:           {value: "50", got: func(c *Config) any { return c.IndexerBatch }, want: 50},
	EnvIndexerFlushInterval:   {value: "100ms", got: func(c *Config) any { return c.IndexerFlushInterval }, want: 100 * time.Millisecond},
	EnvIndexerRetryBackoff:    {value: "2s", got: func(c *Config) any { return c.IndexerRetryBackoff }, want: 2 * time.Second},
	EnvRateBytes:              {value: "65536", got: func(c *Config) any { return c.RateBytes }, want: 65536},
	EnvRateBytesBurst:         {value: "131072", got: func(c *Config) any { return c.RateBytesBurst }, want: 131072},
	EnvRateFlood:              {value: "50", got: func(c *Config) any { return c.RateFlood }, want: 50},
	EnvPageBytes:              {value: "32768", got: func(c *Config) any { return c.PageBytes }, want: 32768},
	EnvMaxRooms:               {value: "10", got: func(c *Config) any { return c.MaxRooms }, want: 10},
	EnvConnectEvents:          {value: "30", got: func(c *Config) any { return c.ConnectEvents }, want: 30},
}

func TestConfigReadsEverySettingFromItsVariableAndItsFlag(t *testing.T) {
	def := defaults(t)
	for _, v := range Variables() {
		s, ok := samples[v]
		if !ok {
			t.Errorf("%s has no sample", v)
			continue
		}
		if reflect.DeepEqual(s.got(def), s.want) {
			t.Errorf("%s: the sample %q is the default", v, s.value)
		}
		for name, in := range map[string]struct {
			args []string
			env  []string
		}{
			"FromVariable": {env: append([]string{v, s.value}, s.with...)},
			"FromFlag":     {args: []string{"-" + flagName(v) + "=" + s.value}, env: s.with},
		} {
			t.Run(v+"/"+name, func(t *testing.T) {
				c, err := parse(in.args, env(in.env...))
				if err != nil {
					t.Fatal(err)
				}
				if got := s.got(c); !reflect.DeepEqual(got, s.want) {
					t.Fatalf("got %#v, want %#v", got, s.want)
				}
			})
		}
	}
}

func TestConfigFlagBeatsVariable(t *testing.T) {
	def := defaults(t)
	fs := flagSet("chatserver", (&Config{}).settings(), io.Discard)
	for _, v := range Variables() {
		s := samples[v]
		t.Run(v, func(t *testing.T) {
			// The flag restates the default; the variable says otherwise.
			c, err := parse([]string{"-" + flagName(v) + "=" + fs.Lookup(flagName(v)).DefValue}, env(append([]string{v, s.value}, s.with...)...))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := s.got(c), s.got(def); !reflect.DeepEqual(got, want) {
				t.Fatalf("got %#v, want the flag's %#v", got, want)
			}
		})
	}
	t.Run("InvalidVariableUnderAFlagIsNotRead", func(t *testing.T) {
		c, err := parse([]string{"-rate-limit", "5"}, env(EnvRateLimit, "fast"))
		if err != nil || c.RateLimit != 5 {
			t.Fatalf("%v %+v", err, c)
		}
	})
}

func TestConfigRefusesInvalidValueNamingSettingValueAndForm(t *testing.T) {
	tests := map[string]struct {
		env, value, want string
	}{
		"AddrWithoutPort":           {EnvAddr, "8080", "an address like :8080"},
		"ManagementAddrWithoutPort": {EnvManagementAddr, "localhost", "an address like :8080"},
		"OriginWithoutScheme":       {EnvAllowedOrigins, "https://ok.example,chat.example.com", `"chat.example.com" is not one`},
		"ZeroShutdownTimeout":       {EnvShutdownTimeout, "0s", "more than 0"},
		"UnknownAuthMode":           {EnvAuthMode, "ldap", "password or proxy"},
		"AuthModeInCapitals":        {EnvAuthMode, "PROXY", "password or proxy"},
		"BadTrustedProxy":           {EnvTrustedProxies, "10.0.0.0/8,10.0.0.0/33", `"10.0.0.0/33" is not one`},
		"SessionTTLNotADuration":    {EnvSessionTTL, "forever", "a duration like 90s or 2h"},
		"NegativeSessionTTL":        {EnvSessionTTL, "-1h", "more than 0"},
		"InvalidAdminID":            {EnvAdmins, "al_ice", `"al_ice" is not one`},
		"RateLimitNotANumber":       {EnvRateLimit, "fast", "a number"},
		"NegativeRateLimit":         {EnvRateLimit, "-1", "at least 0"},
		"ZeroRateBurst":             {EnvRateBurst, "0", "a whole number, at least 1"},
		"FractionalRateBurst":       {EnvRateBurst, "1.5", "a whole number"},
		"TinySendQueue":             {EnvSendQueue, "1024", "at least 65536"},
		"UnknownLogLevel":           {EnvLogLevel, "loud", "debug, info, warn or error"},
		"PprofNotABoolean":          {EnvPprof, "maybe", "true or false"},
		"FsyncNotABoolean":          {EnvFsync, "sometimes", "true or false"},
		"RedisURLOfAnotherScheme":   {EnvRedisURL, "http://user:hunter2@x", "a redis:// or rediss:// URL"},
		"MongoDBURIOfAnotherScheme": {EnvMongoDBURI, "mysql://user:hunter2@x", "a mongodb:// or mongodb+srv:// URL"},
		"UnknownKafkaMechanism":     {EnvKafkaMechanism, "gssapi", "plain, scram-sha-256 or scram-sha-512"},
		"KafkaTLSNotABoolean":       {EnvKafkaTLS, "on", "true or false"},
		"ZeroKafkaPartitions":       {EnvKafkaPartitions, "0", "at least 1"},
		"ZeroReplicationFactor":     {EnvKafkaReplicationFactor, "0", "at least 1, or -1"},
		"ReplicationFactorBelowMin": {EnvKafkaReplicationFactor, "-2", "at least 1, or -1"},
		"ShortKafkaRetention":       {EnvKafkaRetention, "30s", "at least 1m"},
		"ElasticsearchURLNoScheme":  {EnvElasticsearchURL, "es:9200", "a http:// or https:// URL"},
		"ShortElasticRetention":     {EnvElasticsearchRetention, "30m", "at least 1h"},
		"ZeroIndexerBatch":          {EnvIndexerBatch, "0", "at least 1"},
		"FlushIntervalNotADuration": {EnvIndexerFlushInterval, "soon", "a duration"},
		"RetryBackoffNotADuration":  {EnvIndexerRetryBackoff, "later", "a duration"},
		"NegativeFlushInterval":     {EnvIndexerFlushInterval, "-1s", "more than 0"},
		"ZeroFlushInterval":         {EnvIndexerFlushInterval, "0s", "more than 0"},
		"NegativeRetryBackoff":      {EnvIndexerRetryBackoff, "-500ms", "more than 0"},
	}
	secrets := secretVariables()
	for name, tt := range tests {
		t.Run(name+"/FromVariable", func(t *testing.T) {
			_, err := parse(nil, env(tt.env, tt.value))
			named := tt.env + "=" + strconv.Quote(tt.value) + ": must "
			if secrets[tt.env] {
				named = tt.env + " (value not shown): must "
			}
			checkRefusal(t, err, named, tt.want)
			if secrets[tt.env] && strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("%v shows the secret value", err)
			}
		})
		t.Run(name+"/FromFlag", func(t *testing.T) {
			_, err := parse([]string{"-" + flagName(tt.env) + "=" + tt.value}, env())
			checkRefusal(t, err, strconv.Quote(tt.value), " -"+flagName(tt.env)+": must ", tt.want)
		})
	}
	t.Run("EmptyWhereAValueIsNeeded", func(t *testing.T) {
		for _, f := range []string{"addr", "proxy-header", "kafka-topic"} {
			_, err := parse([]string{"-" + f + "="}, env())
			checkRefusal(t, err, " -"+f+": must be ")
		}
	})
	t.Run("EveryRefusalIsReported", func(t *testing.T) {
		_, err := parse(nil, env(EnvRateBurst, "0", EnvLogLevel, "loud"))
		checkRefusal(t, err, EnvRateBurst, EnvLogLevel)
	})
}

func checkRefusal(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want an error with %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q, want one with %q", err, w)
		}
	}
	if _, ok := errors.AsType[*chatserver.Error](err); ok {
		t.Fatalf("%v is a protocol error, not a configuration error", err)
	}
}

func secretVariables() map[string]bool {
	out := map[string]bool{}
	for _, s := range (&Config{}).settings() {
		out[s.env] = s.value.secret
	}
	return out
}

func TestConfigRulesAcrossSettings(t *testing.T) {
	tests := map[string]struct {
		args    []string
		env     []string
		wantErr string
		check   func(*Config) bool
	}{
		"BareBooleanFlagMeansTrue": {args: []string{"-pprof", "-kafka-tls", "-fsync=false"}, check: func(c *Config) bool { return c.Pprof && c.KafkaTLS && !c.Fsync }},
		"DefaultsNeedNothing": {check: func(c *Config) bool {
			return c.Addr == ":8080" && c.DataDir == "./data" && c.AuthMode == "password" && c.KafkaTopic == "chat.activity" && c.Fsync && c.KafkaReplication == -1
		}},
		"EmptyVariableIsUnset":               {env: []string{EnvAddr, "", EnvKafkaTopic, ""}, check: func(c *Config) bool { return c.Addr == ":8080" && c.KafkaTopic == "chat.activity" }},
		"ProxyModeNeedsTrustedProxies":       {env: []string{EnvAuthMode, "proxy"}, wantErr: EnvTrustedProxies + ": must be set in proxy mode"},
		"PasswordModeIgnoresTrustedProxies":  {env: []string{EnvTrustedProxies, "10.0.0.0/8"}, check: func(c *Config) bool { return len(c.TrustedProxies) == 1 }},
		"AdminsNeedAPassword":                {env: []string{EnvAdmins, "alice"}, wantErr: EnvAdminPassword + ": must have 8-128 characters"},
		"AdminPasswordTooShort":              {env: []string{EnvAdmins, "alice", EnvAdminPassword, "short"}, wantErr: EnvAdminPassword},
		"AdminPasswordIsNeverShown":          {env: []string{EnvAdmins, "alice", EnvAdminPassword, "hunter2"}, wantErr: EnvAdminPassword},
		"ProxyModeNeedsNoAdminPassword":      {env: []string{EnvAuthMode, "proxy", EnvAdmins, "alice", EnvTrustedProxies, "10.0.0.0/8"}, check: func(c *Config) bool { return c.AuthMode == "proxy" }},
		"OneCAForAllIsRefused":               {env: []string{removedCAFile, "/ca.crt"}, wantErr: removedCAFile + " is no longer read"},
		"OneCAForAllNamesEachBackendsCAFile": {env: []string{removedCAFile, "/ca.crt"}, wantErr: EnvKafkaCAFile},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := parse(tt.args, env(tt.env...))
			if tt.wantErr != "" {
				checkRefusal(t, err, tt.wantErr)
				if strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("%v shows the password", err)
				}
				return
			}
			if err != nil || !tt.check(c) {
				t.Fatalf("%v %+v", err, c)
			}
		})
	}
}

func TestConfigHelpListsEverySettingByGroupAndNothingElse(t *testing.T) {
	var out bytes.Buffer
	if _, err := Parse("chatserver", []string{"-h"}, env(), &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	help := out.String()
	known := map[string]bool{}
	for _, v := range Variables() {
		known[v] = true
	}
	for _, v := range regexp.MustCompile(`CHAT_[A-Z0-9_]+`).FindAllString(help, -1) {
		if !known[v] {
			t.Errorf("-h mentions %s, which the server does not read", v)
		}
	}
	entry := regexp.MustCompile(`(?m)^  -([a-z0-9-]+)[^\n]*, (CHAT_[A-Z0-9_]+)(?: \(default [^\n]*\))?\n      \S[^\n]*$`)
	listed := map[string]int{}
	for _, m := range entry.FindAllStringSubmatchIndex(help, -1) {
		f, v := help[m[2]:m[3]], help[m[4]:m[5]]
		if f != flagName(v) {
			t.Errorf("-h lists -%s as the flag of %s", f, v)
		}
		listed[v] = m[0]
	}
	if n := strings.Count(help, "\n  -"); n != len(listed) {
		t.Errorf("-h has %d flag lines, %d of them as flag, variable, default and meaning", n, len(listed))
	}
	for _, s := range (&Config{}).settings() {
		at, ok := listed[s.env]
		if !ok {
			t.Errorf("-h does not list %s", s.env)
			continue
		}
		heading := strings.LastIndex(help[:at], "\n\n")
		if got := strings.TrimSuffix(strings.SplitN(help[heading+2:], "\n", 2)[0], ":"); got != string(s.group) {
			t.Errorf("-h lists %s under %q, want %q", s.env, got, s.group)
		}
	}
	for _, want := range []string{"-session-ttl duration, CHAT_SESSION_TTL (default 168h)", "-auth-mode password|proxy, CHAT_AUTH_MODE (default password)", "-fsync, CHAT_FSYNC (default true)"} {
		if !strings.Contains(help, want) {
			t.Errorf("-h has no line %q", want)
		}
	}
}

func TestConfigEveryEnvConstantIsASetting(t *testing.T) {
	file, err := parser.ParseFile(token.NewFileSet(), "config.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	constants := map[string]string{}
	ast.Inspect(file, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok && strings.HasPrefix(vs.Names[0].Name, "Env") {
			constants[vs.Names[0].Name], _ = strconv.Unquote(vs.Values[0].(*ast.BasicLit).Value)
		}
		return true
	})
	vars := Variables()
	if got, want := slices.Sorted(maps.Values(constants)), slices.Sorted(slices.Values(vars)); !slices.Equal(got, want) {
		t.Errorf("Env constants %v, settings %v", got, want)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(vars)))) != len(vars) {
		t.Errorf("a variable is in the table twice: %v", vars)
	}
}
