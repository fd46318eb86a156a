package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

// Config is the chat server's configuration. Every field comes from a flag or
// its environment variable (the flag wins); zero values mean what the comment
// says.
type Config struct {
	Addr            string        // listen address; default ":8080"
	DataDir         string        // embedded storage directory; default "./data"
	Admins          []string      // admin user ids
	AdminPassword   string        // initial password of missing admin accounts (password mode)
	AllowedOrigins  []string      // extra origins allowed on the WebSocket upgrade
	AuthMode        string        // "password" (default) or "proxy"
	ProxyHeader     string        // trusted user header in proxy mode; default X-Forwarded-User
	SessionKey      string        // secret mixed into token hashes; empty: plain SHA-256
	SessionTTL      time.Duration // session lifetime; default 7 days
	RateLimit       float64       // commands per second per connection; 0 disables; default 20
	RateBurst       int           // burst of the rate limit; default 40
	SendQueue       int           // pending outgoing bytes per connection before it is closed as slow; default 4 MiB
	ShutdownTimeout time.Duration // bound on graceful shutdown; default 10s
	LogLevel        string        // debug, info (default), warn, error
	Pprof           bool          // serve /debug/pprof on the main listener
	Fsync           bool          // embedded store: fsync before acknowledging; default true
	InstanceID      string        // this instance's id for presence; default hostname-pid

	RedisURL             string   // redis:// or rediss://; empty: in-memory presence and fan-out
	RedisPassword        string   // if not in the URL
	MongoURI             string   // mongodb://; empty: embedded users and messages
	MongoDatabase        string   // default "chat"
	KafkaBrokers         []string // empty: embedded activity log
	KafkaTopic           string   // default "chat.activity"
	KafkaUsername        string
	KafkaPassword        string
	KafkaMechanism       string // plain, scram-sha-256, scram-sha-512
	ElasticURL           string // empty: embedded activity search
	ElasticUsername      string
	ElasticPassword      string
	ElasticAPIKey        string
	ElasticIndex         string // index (and template) name prefix; default "chat-activity"
	CAFile               string // PEM bundle trusted for TLS to every backend
	IndexerGroup         string // Kafka consumer group of `chatserver index`; default "chat-indexer"
	IndexerBatch         int    // events per bulk request of the indexer; default 500
	IndexerFlushInterval time.Duration
	IndexerRetryBackoff  time.Duration
}

// setting is one configuration entry: its flag, its variable and its help.
type setting struct {
	name, env, help string
	value           flag.Value
}

func (c *Config) settings() []setting {
	host, _ := os.Hostname()
	return []setting{
		{"addr", "CHAT_ADDR", "listen address", strVal(&c.Addr, ":8080")},
		{"data-dir", "CHAT_DATA_DIR", "directory of the embedded database and spools", strVal(&c.DataDir, "./data")},
		{"admins", "CHAT_ADMINS", "comma-separated admin user ids", listVal(&c.Admins)},
		{"admin-password", "CHAT_ADMIN_PASSWORD", "initial password of admin accounts that do not exist yet (password mode)", strVal(&c.AdminPassword, "")},
		{"allowed-origins", "CHAT_ALLOWED_ORIGINS", "comma-separated origins allowed on the WebSocket upgrade besides the server's own host", listVal(&c.AllowedOrigins)},
		{"auth-mode", "CHAT_AUTH_MODE", "password or proxy", strVal(&c.AuthMode, "password")},
		{"proxy-header", "CHAT_PROXY_HEADER", "request header holding the user id in proxy mode", strVal(&c.ProxyHeader, "X-Forwarded-User")},
		{"session-key", "CHAT_SESSION_KEY", "secret mixed into stored token hashes", strVal(&c.SessionKey, "")},
		{"session-ttl", "CHAT_SESSION_TTL", "session lifetime", durVal(&c.SessionTTL, 7*24*time.Hour)},
		{"rate-limit", "CHAT_RATE_LIMIT", "commands per second per connection (0 disables)", floatVal(&c.RateLimit, 20)},
		{"rate-burst", "CHAT_RATE_BURST", "burst of the per-connection rate limit", intVal(&c.RateBurst, 40)},
		{"send-queue", "CHAT_SEND_QUEUE", "bytes queued for a connection before it is closed as too slow (1008)", intVal(&c.SendQueue, 4<<20)},
		{"shutdown-timeout", "CHAT_SHUTDOWN_TIMEOUT", "bound on graceful shutdown", durVal(&c.ShutdownTimeout, 10*time.Second)},
		{"log-level", "CHAT_LOG_LEVEL", "debug, info, warn or error", strVal(&c.LogLevel, "info")},
		{"fsync", "CHAT_FSYNC", "embedded store: acknowledge only after fsync (true: survives power loss; false: survives process crashes and restarts, with lower latency)", boolValDefault(&c.Fsync, true)},
		{"pprof", "CHAT_PPROF", "serve Go profiles at /debug/pprof (true or false; for benchmarks, never exposed publicly)", boolVal(&c.Pprof)},
		{"instance-id", "CHAT_INSTANCE_ID", "this instance's id in the shared presence registry", strVal(&c.InstanceID, fmt.Sprintf("%s-%d", host, os.Getpid()))},
		{"redis-url", "CHAT_REDIS_URL", "Redis for presence, fan-out and sessions (redis:// or rediss://); empty: in memory", strVal(&c.RedisURL, "")},
		{"redis-password", "CHAT_REDIS_PASSWORD", "Redis password, when not in the URL", strVal(&c.RedisPassword, "")},
		{"mongodb-uri", "CHAT_MONGODB_URI", "MongoDB for users and messages; empty: embedded", strVal(&c.MongoURI, "")},
		{"mongodb-database", "CHAT_MONGODB_DATABASE", "MongoDB database name", strVal(&c.MongoDatabase, "chat")},
		{"kafka-brokers", "CHAT_KAFKA_BROKERS", "comma-separated Kafka brokers for activity events; empty: embedded", listVal(&c.KafkaBrokers)},
		{"kafka-topic", "CHAT_KAFKA_TOPIC", "Kafka topic of activity events", strVal(&c.KafkaTopic, chatserver.ActivityTopic)},
		{"kafka-username", "CHAT_KAFKA_USERNAME", "Kafka SASL username", strVal(&c.KafkaUsername, "")},
		{"kafka-password", "CHAT_KAFKA_PASSWORD", "Kafka SASL password", strVal(&c.KafkaPassword, "")},
		{"kafka-mechanism", "CHAT_KAFKA_MECHANISM", "Kafka SASL mechanism: plain, scram-sha-256 or scram-sha-512", strVal(&c.KafkaMechanism, "")},
		{"elasticsearch-url", "CHAT_ELASTICSEARCH_URL", "Elasticsearch for activity search and stats; empty: embedded", strVal(&c.ElasticURL, "")},
		{"elasticsearch-username", "CHAT_ELASTICSEARCH_USERNAME", "Elasticsearch username", strVal(&c.ElasticUsername, "")},
		{"elasticsearch-password", "CHAT_ELASTICSEARCH_PASSWORD", "Elasticsearch password", strVal(&c.ElasticPassword, "")},
		{"elasticsearch-api-key", "CHAT_ELASTICSEARCH_API_KEY", "Elasticsearch API key (instead of username and password)", strVal(&c.ElasticAPIKey, "")},
		{"elasticsearch-index", "CHAT_ELASTICSEARCH_INDEX", "Elasticsearch index name", strVal(&c.ElasticIndex, "chat-activity")},
		{"ca-file", "CHAT_CA_FILE", "PEM file of CAs trusted for TLS to the backends", strVal(&c.CAFile, "")},
		{"indexer-group", "CHAT_INDEXER_GROUP", "Kafka consumer group of the indexer", strVal(&c.IndexerGroup, "chat-indexer")},
		{"indexer-batch", "CHAT_INDEXER_BATCH", "events per Elasticsearch bulk request of the indexer", intVal(&c.IndexerBatch, 500)},
		{"indexer-flush-interval", "CHAT_INDEXER_FLUSH_INTERVAL", "longest wait before the indexer writes a partial batch", durVal(&c.IndexerFlushInterval, time.Second)},
		{"indexer-retry-backoff", "CHAT_INDEXER_RETRY_BACKOFF", "first wait before the indexer retries a failed bulk write", durVal(&c.IndexerRetryBackoff, 500*time.Millisecond)},
	}
}

// ParseConfig reads flags from args and, for flags not given, the environment.
// It returns an error naming the first invalid setting.
func ParseConfig(name string, args []string, getenv func(string) string, usageOut io.Writer) (*Config, error) {
	c := &Config{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(usageOut)
	set := c.settings()
	for _, s := range set {
		fs.Var(s.value, s.name, fmt.Sprintf("%s (env %s)", s.help, s.env))
	}
	fs.Usage = func() {
		fmt.Fprintf(usageOut, "Usage: %s [flags]\n       %s index [flags]   run the activity indexer (Kafka to Elasticsearch)\n\nEvery flag can also be set by its environment variable; a flag wins over its variable.\n\n", name, name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, s := range set {
		if given[s.name] {
			continue
		}
		if v := getenv(s.env); v != "" {
			if err := s.value.Set(v); err != nil {
				return nil, fmt.Errorf("invalid %s=%q: %v", s.env, v, err)
			}
		}
	}
	return c, c.validate()
}

func (c *Config) validate() error {
	var errs []error
	bad := func(env, format string, args ...any) {
		errs = append(errs, fmt.Errorf("invalid %s: %s", env, fmt.Sprintf(format, args...)))
	}
	if c.Addr == "" {
		bad("CHAT_ADDR", "empty")
	}
	switch c.AuthMode {
	case "password", "proxy":
	default:
		bad("CHAT_AUTH_MODE", "%q is neither password nor proxy", c.AuthMode)
	}
	if c.AuthMode == "proxy" && c.ProxyHeader == "" {
		bad("CHAT_PROXY_HEADER", "empty in proxy mode")
	}
	for i, a := range c.Admins {
		id, err := chatserver.NormalizeUserID(a)
		if err != nil {
			bad("CHAT_ADMINS", "%q is not a valid user id", a)
			continue
		}
		c.Admins[i] = id
	}
	if c.AuthMode == "password" && len(c.Admins) > 0 {
		if n := len([]rune(c.AdminPassword)); n < chatserver.MinPasswordLen || n > chatserver.MaxPasswordLen {
			bad("CHAT_ADMIN_PASSWORD", "admins are configured, so it must have %d-%d characters", chatserver.MinPasswordLen, chatserver.MaxPasswordLen)
		}
	}
	for _, o := range c.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" {
			bad("CHAT_ALLOWED_ORIGINS", "%q is not an origin like https://chat.example.com", o)
		}
	}
	if c.SessionTTL <= 0 {
		bad("CHAT_SESSION_TTL", "must be positive")
	}
	if c.RateLimit < 0 {
		bad("CHAT_RATE_LIMIT", "must not be negative")
	}
	if c.RateBurst < 1 {
		bad("CHAT_RATE_BURST", "must be at least 1")
	}
	if c.SendQueue < 64<<10 {
		bad("CHAT_SEND_QUEUE", "must be at least 65536 bytes")
	}
	if c.ShutdownTimeout <= 0 {
		bad("CHAT_SHUTDOWN_TIMEOUT", "must be positive")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("CHAT_LOG_LEVEL", "%q is not debug, info, warn or error", c.LogLevel)
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			bad("CHAT_REDIS_URL", "want redis:// or rediss://")
		}
	}
	if c.MongoURI != "" && !strings.HasPrefix(c.MongoURI, "mongodb://") && !strings.HasPrefix(c.MongoURI, "mongodb+srv://") {
		bad("CHAT_MONGODB_URI", "want mongodb:// or mongodb+srv://")
	}
	if c.ElasticURL != "" {
		if u, err := url.Parse(c.ElasticURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			bad("CHAT_ELASTICSEARCH_URL", "want http:// or https://")
		}
	}
	switch strings.ToLower(c.KafkaMechanism) {
	case "", "plain", "scram-sha-256", "scram-sha-512":
	default:
		bad("CHAT_KAFKA_MECHANISM", "%q is not plain, scram-sha-256 or scram-sha-512", c.KafkaMechanism)
	}
	if c.KafkaTopic == "" {
		bad("CHAT_KAFKA_TOPIC", "empty")
	}
	if c.IndexerBatch < 1 {
		bad("CHAT_INDEXER_BATCH", "must be at least 1")
	}
	return errors.Join(errs...)
}

type stringValue struct{ p *string }

func strVal(p *string, def string) flag.Value { *p = def; return stringValue{p} }
func (v stringValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}
func (v stringValue) Set(s string) error { *v.p = s; return nil }

type listValue struct{ p *[]string }

func listVal(p *[]string) flag.Value { return listValue{p} }
func (v listValue) String() string {
	if v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}
func (v listValue) Set(s string) error {
	*v.p = nil
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*v.p = append(*v.p, item)
		}
	}
	return nil
}

type durationValue struct{ p *time.Duration }

func durVal(p *time.Duration, def time.Duration) flag.Value { *p = def; return durationValue{p} }
func (v durationValue) String() string {
	if v.p == nil {
		return ""
	}
	return v.p.String()
}
func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("not a duration like 10s or 1m")
	}
	*v.p = d
	return nil
}

type intValue struct{ p *int }

func intVal(p *int, def int) flag.Value { *p = def; return intValue{p} }
func (v intValue) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.Itoa(*v.p)
}
func (v intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("not an integer")
	}
	*v.p = n
	return nil
}

type boolValue struct{ p *bool }

func boolVal(p *bool) flag.Value { return boolValue{p} }

func boolValDefault(p *bool, def bool) flag.Value { *p = def; return boolValue{p} }
func (v boolValue) String() string {
	if v.p == nil {
		return "false"
	}
	return strconv.FormatBool(*v.p)
}
func (v boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("not true or false")
	}
	*v.p = b
	return nil
}
func (v boolValue) IsBoolFlag() bool { return true }

type floatValue struct{ p *float64 }

func floatVal(p *float64, def float64) flag.Value { *p = def; return floatValue{p} }
func (v floatValue) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.FormatFloat(*v.p, 'g', -1, 64)
}
func (v floatValue) Set(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return errors.New("not a number")
	}
	*v.p = f
	return nil
}
