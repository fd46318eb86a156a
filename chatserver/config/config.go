// Package config is the one contract between the chat server and whatever
// runs it (the operator, Helm, a shell): the name of every CHAT_* environment
// variable, the Config they fill, and Parse, which validates them. The
// operator builds its pods from these constants and its tests feed the pods
// it generates through Parse.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

// Environment variables, one per setting. A flag of the same name in lower
// case with dashes (CHAT_REDIS_URL: -redis-url) wins over its variable.
const (
	EnvAddr                   = "CHAT_ADDR"
	EnvAdmins                 = "CHAT_ADMINS"
	EnvAdminPassword          = "CHAT_ADMIN_PASSWORD"
	EnvAllowedOrigins         = "CHAT_ALLOWED_ORIGINS"
	EnvAuthMode               = "CHAT_AUTH_MODE"
	EnvDataDir                = "CHAT_DATA_DIR"
	EnvElasticsearchAPIKey    = "CHAT_ELASTICSEARCH_API_KEY"
	EnvElasticsearchIndex     = "CHAT_ELASTICSEARCH_INDEX"
	EnvElasticsearchPassword  = "CHAT_ELASTICSEARCH_PASSWORD"
	EnvElasticsearchURL       = "CHAT_ELASTICSEARCH_URL"
	EnvElasticsearchUsername  = "CHAT_ELASTICSEARCH_USERNAME"
	EnvFsync                  = "CHAT_FSYNC"
	EnvIndexerBatch           = "CHAT_INDEXER_BATCH"
	EnvIndexerFlushInterval   = "CHAT_INDEXER_FLUSH_INTERVAL"
	EnvIndexerGroup           = "CHAT_INDEXER_GROUP"
	EnvIndexerRetryBackoff    = "CHAT_INDEXER_RETRY_BACKOFF"
	EnvInstanceID             = "CHAT_INSTANCE_ID"
	EnvKafkaBrokers           = "CHAT_KAFKA_BROKERS"
	EnvKafkaMechanism         = "CHAT_KAFKA_MECHANISM"
	EnvKafkaPassword          = "CHAT_KAFKA_PASSWORD"
	EnvKafkaTopic             = "CHAT_KAFKA_TOPIC"
	EnvKafkaUsername          = "CHAT_KAFKA_USERNAME"
	EnvLogLevel               = "CHAT_LOG_LEVEL"
	EnvMongoDBDatabase        = "CHAT_MONGODB_DATABASE"
	EnvMongoDBURI             = "CHAT_MONGODB_URI"
	EnvPprof                  = "CHAT_PPROF"
	EnvProxyHeader            = "CHAT_PROXY_HEADER"
	EnvRateBurst              = "CHAT_RATE_BURST"
	EnvRateLimit              = "CHAT_RATE_LIMIT"
	EnvRedisPassword          = "CHAT_REDIS_PASSWORD"
	EnvRedisURL               = "CHAT_REDIS_URL"
	EnvSendQueue              = "CHAT_SEND_QUEUE"
	EnvSessionKey             = "CHAT_SESSION_KEY"
	EnvSessionTTL             = "CHAT_SESSION_TTL"
	EnvShutdownTimeout        = "CHAT_SHUTDOWN_TIMEOUT"
	EnvManagementAddr         = "CHAT_MANAGEMENT_ADDR"
	EnvTrustedProxies         = "CHAT_TRUSTED_PROXIES"
	EnvRedisCAFile            = "CHAT_REDIS_CA_FILE"
	EnvMongoDBCAFile          = "CHAT_MONGODB_CA_FILE"
	EnvKafkaCAFile            = "CHAT_KAFKA_CA_FILE"
	EnvKafkaTLS               = "CHAT_KAFKA_TLS"
	EnvKafkaPartitions        = "CHAT_KAFKA_PARTITIONS"
	EnvKafkaReplicationFactor = "CHAT_KAFKA_REPLICATION_FACTOR"
	EnvKafkaRetention         = "CHAT_KAFKA_RETENTION"
	EnvElasticsearchCAFile    = "CHAT_ELASTICSEARCH_CA_FILE"
	EnvElasticsearchRetention = "CHAT_ELASTICSEARCH_RETENTION"
)

// removedCAFile was one CA for every backend; it turned TLS on towards
// backends that speak plaintext. Each backend now has its own.
const removedCAFile = "CHAT_CA_FILE"

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
	ElasticIndex         string        // index (and template) name prefix; default "chat-activity"
	ManagementAddr       string        // address of /healthz, /readyz, /metrics; empty: on Addr
	TrustedProxies       []*net.IPNet  // proxy mode: peers whose user header is trusted
	RedisCAFile          string        // PEM bundle trusted for TLS to Redis (rediss://)
	MongoDBCAFile        string        // PEM bundle trusted for TLS to MongoDB
	KafkaCAFile          string        // PEM bundle trusted for TLS to Kafka; implies KafkaTLS
	KafkaTLS             bool          // TLS to Kafka
	KafkaPartitions      int           // partitions of the activity topic when it is created; default 3
	KafkaReplication     int           // replication factor of the activity topic; -1: the brokers' default
	KafkaRetention       time.Duration // retention of the activity topic; default 7 days
	ElasticCAFile        string        // PEM bundle trusted for TLS to Elasticsearch (https://)
	ElasticRetention     time.Duration // how long activity stays in the index; default 30 days
	IndexerGroup         string        // Kafka consumer group of `chatserver index`; default "chat-indexer"
	IndexerBatch         int           // events per bulk request of the indexer; default 500
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
		{"addr", EnvAddr, "listen address", strVal(&c.Addr, ":8080")},
		{"data-dir", EnvDataDir, "directory of the embedded database and spools", strVal(&c.DataDir, "./data")},
		{"admins", EnvAdmins, "comma-separated admin user ids", listVal(&c.Admins)},
		{"admin-password", EnvAdminPassword, "initial password of admin accounts that do not exist yet (password mode)", strVal(&c.AdminPassword, "")},
		{"allowed-origins", EnvAllowedOrigins, "comma-separated origins allowed on the WebSocket upgrade besides the server's own host", listVal(&c.AllowedOrigins)},
		{"auth-mode", EnvAuthMode, "password or proxy", strVal(&c.AuthMode, "password")},
		{"proxy-header", EnvProxyHeader, "request header holding the user id in proxy mode", strVal(&c.ProxyHeader, "X-Forwarded-User")},
		{"session-key", EnvSessionKey, "secret mixed into stored token hashes", strVal(&c.SessionKey, "")},
		{"session-ttl", EnvSessionTTL, "session lifetime", durVal(&c.SessionTTL, 7*24*time.Hour)},
		{"rate-limit", EnvRateLimit, "commands per second per connection (0 disables)", floatVal(&c.RateLimit, 20)},
		{"rate-burst", EnvRateBurst, "burst of the per-connection rate limit", intVal(&c.RateBurst, 40)},
		{"send-queue", EnvSendQueue, "bytes queued for a connection before it is closed as too slow (1008)", intVal(&c.SendQueue, 4<<20)},
		{"shutdown-timeout", EnvShutdownTimeout, "bound on graceful shutdown", durVal(&c.ShutdownTimeout, 10*time.Second)},
		{"log-level", EnvLogLevel, "debug, info, warn or error", strVal(&c.LogLevel, "info")},
		{"fsync", EnvFsync, "embedded store: acknowledge only after fsync (true: survives power loss; false: survives process crashes and restarts, with lower latency)", boolValDefault(&c.Fsync, true)},
		{"pprof", EnvPprof, "serve Go profiles at /debug/pprof (true or false; for benchmarks, never exposed publicly)", boolVal(&c.Pprof)},
		{"instance-id", EnvInstanceID, "this instance's id in the shared presence registry", strVal(&c.InstanceID, fmt.Sprintf("%s-%d", host, os.Getpid()))},
		{"redis-url", EnvRedisURL, "Redis for presence, fan-out and sessions (redis:// or rediss://); empty: in memory", strVal(&c.RedisURL, "")},
		{"redis-password", EnvRedisPassword, "Redis password, when not in the URL", strVal(&c.RedisPassword, "")},
		{"mongodb-uri", EnvMongoDBURI, "MongoDB for users and messages; empty: embedded", strVal(&c.MongoURI, "")},
		{"mongodb-database", EnvMongoDBDatabase, "MongoDB database name", strVal(&c.MongoDatabase, "chat")},
		{"kafka-brokers", EnvKafkaBrokers, "comma-separated Kafka brokers for activity events; empty: embedded", listVal(&c.KafkaBrokers)},
		{"kafka-topic", EnvKafkaTopic, "Kafka topic of activity events", strVal(&c.KafkaTopic, chatserver.ActivityTopic)},
		{"kafka-username", EnvKafkaUsername, "Kafka SASL username", strVal(&c.KafkaUsername, "")},
		{"kafka-password", EnvKafkaPassword, "Kafka SASL password", strVal(&c.KafkaPassword, "")},
		{"kafka-mechanism", EnvKafkaMechanism, "Kafka SASL mechanism: plain, scram-sha-256 or scram-sha-512", strVal(&c.KafkaMechanism, "")},
		{"elasticsearch-url", EnvElasticsearchURL, "Elasticsearch for activity search and stats; empty: embedded", strVal(&c.ElasticURL, "")},
		{"elasticsearch-username", EnvElasticsearchUsername, "Elasticsearch username", strVal(&c.ElasticUsername, "")},
		{"elasticsearch-password", EnvElasticsearchPassword, "Elasticsearch password", strVal(&c.ElasticPassword, "")},
		{"elasticsearch-api-key", EnvElasticsearchAPIKey, "Elasticsearch API key (instead of username and password)", strVal(&c.ElasticAPIKey, "")},
		{"elasticsearch-index", EnvElasticsearchIndex, "Elasticsearch index name", strVal(&c.ElasticIndex, "chat-activity")},
		{"management-addr", EnvManagementAddr, "address of /healthz, /readyz, /metrics and /debug/pprof; empty: served on CHAT_ADDR", strVal(&c.ManagementAddr, "")},
		{"trusted-proxies", EnvTrustedProxies, "proxy mode: comma-separated CIDRs of the proxies whose user header is trusted (required in proxy mode)", cidrVal(&c.TrustedProxies)},
		{"redis-ca-file", EnvRedisCAFile, "PEM file of CAs trusted for TLS to Redis (rediss://)", strVal(&c.RedisCAFile, "")},
		{"mongodb-ca-file", EnvMongoDBCAFile, "PEM file of CAs trusted for TLS to MongoDB", strVal(&c.MongoDBCAFile, "")},
		{"kafka-ca-file", EnvKafkaCAFile, "PEM file of CAs trusted for TLS to Kafka (turns TLS on)", strVal(&c.KafkaCAFile, "")},
		{"kafka-tls", EnvKafkaTLS, "TLS to Kafka, with the system's CAs unless CHAT_KAFKA_CA_FILE is set", boolVal(&c.KafkaTLS)},
		{"kafka-partitions", EnvKafkaPartitions, "partitions of the activity topic when the server creates it", intVal(&c.KafkaPartitions, 3)},
		{"kafka-replication-factor", EnvKafkaReplicationFactor, "replication factor of the activity topic when the server creates it; -1: the brokers' default", intVal(&c.KafkaReplication, -1)},
		{"kafka-retention", EnvKafkaRetention, "how long Kafka keeps activity events", durVal(&c.KafkaRetention, 7*24*time.Hour)},
		{"elasticsearch-ca-file", EnvElasticsearchCAFile, "PEM file of CAs trusted for TLS to Elasticsearch (https://)", strVal(&c.ElasticCAFile, "")},
		{"elasticsearch-retention", EnvElasticsearchRetention, "how long activity events stay in the Elasticsearch index", durVal(&c.ElasticRetention, 30*24*time.Hour)},
		{"indexer-group", EnvIndexerGroup, "Kafka consumer group of the indexer", strVal(&c.IndexerGroup, "chat-indexer")},
		{"indexer-batch", EnvIndexerBatch, "events per Elasticsearch bulk request of the indexer", intVal(&c.IndexerBatch, 500)},
		{"indexer-flush-interval", EnvIndexerFlushInterval, "longest wait before the indexer writes a partial batch", durVal(&c.IndexerFlushInterval, time.Second)},
		{"indexer-retry-backoff", EnvIndexerRetryBackoff, "first wait before the indexer retries a failed bulk write", durVal(&c.IndexerRetryBackoff, 500*time.Millisecond)},
	}
}

// Parse reads flags from args and, for flags not given, the environment.
// It returns an error naming the first invalid setting.
func Parse(name string, args []string, getenv func(string) string, usageOut io.Writer) (*Config, error) {
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
	if v := getenv(removedCAFile); v != "" {
		return nil, fmt.Errorf("%s is no longer read: set the CA of each backend that needs one (%s, %s, %s, %s)",
			removedCAFile, EnvRedisCAFile, EnvMongoDBCAFile, EnvKafkaCAFile, EnvElasticsearchCAFile)
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
		bad(EnvAddr, "empty")
	}
	switch c.AuthMode {
	case "password", "proxy":
	default:
		bad(EnvAuthMode, "%q is neither password nor proxy", c.AuthMode)
	}
	if c.AuthMode == "proxy" && c.ProxyHeader == "" {
		bad(EnvProxyHeader, "empty in proxy mode")
	}
	for i, a := range c.Admins {
		id, err := chatserver.NormalizeUserID(a)
		if err != nil {
			bad(EnvAdmins, "%q is not a valid user id", a)
			continue
		}
		c.Admins[i] = id
	}
	if c.AuthMode == "password" && len(c.Admins) > 0 {
		if n := len([]rune(c.AdminPassword)); n < chatserver.MinPasswordLen || n > chatserver.MaxPasswordLen {
			bad(EnvAdminPassword, "admins are configured, so it must have %d-%d characters", chatserver.MinPasswordLen, chatserver.MaxPasswordLen)
		}
	}
	for _, o := range c.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" {
			bad(EnvAllowedOrigins, "%q is not an origin like https://chat.example.com", o)
		}
	}
	if c.SessionTTL <= 0 {
		bad(EnvSessionTTL, "must be positive")
	}
	if c.RateLimit < 0 {
		bad(EnvRateLimit, "must not be negative")
	}
	if c.RateBurst < 1 {
		bad(EnvRateBurst, "must be at least 1")
	}
	if c.SendQueue < 64<<10 {
		bad(EnvSendQueue, "must be at least 65536 bytes")
	}
	if c.ShutdownTimeout <= 0 {
		bad(EnvShutdownTimeout, "must be positive")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad(EnvLogLevel, "%q is not debug, info, warn or error", c.LogLevel)
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			bad(EnvRedisURL, "want redis:// or rediss://")
		}
	}
	if c.MongoURI != "" && !strings.HasPrefix(c.MongoURI, "mongodb://") && !strings.HasPrefix(c.MongoURI, "mongodb+srv://") {
		bad(EnvMongoDBURI, "want mongodb:// or mongodb+srv://")
	}
	if c.ElasticURL != "" {
		if u, err := url.Parse(c.ElasticURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			bad(EnvElasticsearchURL, "want http:// or https://")
		}
	}
	switch strings.ToLower(c.KafkaMechanism) {
	case "", "plain", "scram-sha-256", "scram-sha-512":
	default:
		bad(EnvKafkaMechanism, "%q is not plain, scram-sha-256 or scram-sha-512", c.KafkaMechanism)
	}
	if c.KafkaTopic == "" {
		bad(EnvKafkaTopic, "empty")
	}
	if c.AuthMode == "proxy" && len(c.TrustedProxies) == 0 {
		bad(EnvTrustedProxies, "empty in proxy mode: name the CIDRs of the proxies allowed to set %s", c.ProxyHeader)
	}
	if c.KafkaPartitions < 1 {
		bad(EnvKafkaPartitions, "must be at least 1")
	}
	if c.KafkaReplication == 0 || c.KafkaReplication < -1 {
		bad(EnvKafkaReplicationFactor, "must be at least 1, or -1 for the brokers' default")
	}
	if c.KafkaRetention < time.Minute {
		bad(EnvKafkaRetention, "must be at least 1m")
	}
	if c.ElasticRetention < time.Hour {
		bad(EnvElasticsearchRetention, "must be at least 1h")
	}
	if c.IndexerBatch < 1 {
		bad(EnvIndexerBatch, "must be at least 1")
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

type cidrValue struct{ p *[]*net.IPNet }

func cidrVal(p *[]*net.IPNet) flag.Value { return cidrValue{p} }
func (v cidrValue) String() string {
	if v.p == nil {
		return ""
	}
	out := make([]string, len(*v.p))
	for i, n := range *v.p {
		out[i] = n.String()
	}
	return strings.Join(out, ",")
}
func (v cidrValue) Set(s string) error {
	*v.p = nil
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		if !strings.Contains(item, "/") {
			if ip := net.ParseIP(item); ip != nil && ip.To4() != nil {
				item += "/32"
			} else if ip != nil {
				item += "/128"
			}
		}
		_, n, err := net.ParseCIDR(item)
		if err != nil {
			return fmt.Errorf("%q is not a CIDR like 10.0.0.0/8 or an IP address", item)
		}
		*v.p = append(*v.p, n)
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

// Variables lists every environment variable the chat server reads, so that
// whoever writes them (the operator) can check it writes none unknown.
func Variables() []string {
	set := (&Config{}).settings()
	out := make([]string, len(set))
	for i, s := range set {
		out[i] = s.env
	}
	return out
}
