// Package config is the one contract between the chat server and whatever
// runs it (the operator, Helm, a shell): the name of every CHAT_* environment
// variable, the Config they fill, and Parse, which validates them. The
// operator builds its pods from these constants and its tests feed the pods
// it generates through Parse.
//
// The table in settings.go states each setting once: its variable (and so its
// flag), its default, its meaning and the values it accepts. The flags, the
// environment lookup, the -h text and Variables all come from it.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chatcluster/chatcluster/chatserver"
)

// Environment variables, one per setting. A flag of the same name in lower
// case with dashes (CHAT_REDIS_URL: -redis-url, see flagName) wins over its
// variable.
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

	// The HTTP front door: timeouts, sizes and caps per client address.
	EnvReadHeaderTimeout            = "CHAT_READ_HEADER_TIMEOUT"
	EnvReadTimeout                  = "CHAT_READ_TIMEOUT"
	EnvIdleTimeout                  = "CHAT_IDLE_TIMEOUT"
	EnvHandshakeTimeout             = "CHAT_HANDSHAKE_TIMEOUT"
	EnvMaxHeaderBytes               = "CHAT_MAX_HEADER_BYTES"
	EnvMaxBodyBytes                 = "CHAT_MAX_BODY_BYTES"
	EnvMaxConnectionsPerAddress     = "CHAT_MAX_CONNECTIONS_PER_ADDRESS"
	EnvMaxUnauthenticatedPerAddress = "CHAT_MAX_UNAUTHENTICATED_PER_ADDRESS"
	EnvMaxSocketsPerUser            = "CHAT_MAX_SOCKETS_PER_USER"
	EnvMaxSocketsPerAddress         = "CHAT_MAX_SOCKETS_PER_ADDRESS"

	// Sign-in: limits on failures and registrations, password rules.
	EnvSignInUserFailures   = "CHAT_SIGNIN_USER_FAILURES"
	EnvSignInAddrFailures   = "CHAT_SIGNIN_ADDRESS_FAILURES"
	EnvSignInFailureWindow  = "CHAT_SIGNIN_FAILURE_WINDOW"
	EnvSignupsPerAddress    = "CHAT_SIGNUPS_PER_ADDRESS"
	EnvSignInHashWait       = "CHAT_SIGNIN_HASH_WAIT"
	EnvSignInTrackedKeys    = "CHAT_SIGNIN_TRACKED_KEYS"
	EnvPasswordRefuseCommon = "CHAT_PASSWORD_REFUSE_COMMON"

	// The command path: reply sizes, rooms, activity of connections.
	EnvRateBytes      = "CHAT_RATE_BYTES"
	EnvRateBytesBurst = "CHAT_RATE_BYTES_BURST"
	EnvRateFlood      = "CHAT_RATE_FLOOD"
	EnvPageBytes      = "CHAT_PAGE_BYTES"
	EnvMaxRooms       = "CHAT_MAX_ROOMS"
	EnvConnectEvents  = "CHAT_CONNECT_EVENTS"
)

// removedCAFile was one CA for every backend; it turned TLS on towards
// backends that speak plaintext. Each backend now has its own.
const removedCAFile = "CHAT_CA_FILE"

// Config is the chat server's configuration. Every field comes from a flag or
// its environment variable (the flag wins); settings() states each field's
// variable, default and meaning.
type Config struct {
	Addr            string
	DataDir         string
	Admins          []string
	AdminPassword   string
	AllowedOrigins  []string
	AuthMode        string
	ProxyHeader     string
	SessionKey      string
	SessionTTL      time.Duration
	RateLimit       float64
	RateBurst       int
	SendQueue       int
	ShutdownTimeout time.Duration
	LogLevel        string
	Pprof           bool
	Fsync           bool
	InstanceID      string

	RedisURL             string
	RedisPassword        string
	MongoURI             string
	MongoDatabase        string
	KafkaBrokers         []string
	KafkaTopic           string
	KafkaUsername        string
	KafkaPassword        string
	KafkaMechanism       string
	ElasticURL           string
	ElasticUsername      string
	ElasticPassword      string
	ElasticAPIKey        string
	ElasticIndex         string
	ManagementAddr       string
	TrustedProxies       []*net.IPNet
	RedisCAFile          string
	MongoDBCAFile        string
	KafkaCAFile          string
	KafkaTLS             bool
	KafkaPartitions      int
	KafkaReplication     int
	KafkaRetention       time.Duration
	ElasticCAFile        string
	ElasticRetention     time.Duration
	IndexerGroup         string
	IndexerBatch         int
	IndexerFlushInterval time.Duration
	IndexerRetryBackoff  time.Duration

	// The HTTP front door (EnvReadHeaderTimeout and after).
	ReadHeaderTimeout            time.Duration
	ReadTimeout                  time.Duration
	IdleTimeout                  time.Duration
	HandshakeTimeout             time.Duration
	MaxHeaderBytes               int
	MaxBodyBytes                 int
	MaxConnectionsPerAddress     int
	MaxUnauthenticatedPerAddress int
	MaxSocketsPerUser            int
	MaxSocketsPerAddress         int

	// Sign-in (EnvSignInUserFailures and after).
	SignInUserFailures   int
	SignInAddrFailures   int
	SignInFailureWindow  time.Duration
	SignupsPerAddress    int
	SignInHashWait       time.Duration
	SignInTrackedKeys    int
	PasswordRefuseCommon bool

	// The command path (EnvRateBytes and after).
	RateBytes      int
	RateBytesBurst int
	RateFlood      int
	PageBytes      int
	MaxRooms       int
	ConnectEvents  int
}

// Parse reads flags from args and, for flags not given, the environment (an
// empty variable counts as unset). On -h it writes the settings to usageOut
// and returns flag.ErrHelp. Its errors name the flag or variable at fault,
// the value refused and what is expected instead.
func Parse(name string, args []string, getenv func(string) string, usageOut io.Writer) (*Config, error) {
	c := &Config{}
	set := c.settings()
	fs := flagSet(name, set, usageOut)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if getenv(removedCAFile) != "" {
		return nil, fmt.Errorf("%s is no longer read: set the CA of each backend that needs one (%s, %s, %s, %s)",
			removedCAFile, EnvRedisCAFile, EnvMongoDBCAFile, EnvKafkaCAFile, EnvElasticsearchCAFile)
	}
	if err := fromEnvironment(fs, set, getenv); err != nil {
		return nil, err
	}
	return c, c.checkAcross()
}

// flagSet registers a flag per setting, bound to its Config field.
func flagSet(name string, set []setting, usageOut io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(usageOut)
	for _, s := range set {
		s.value.define(fs, flagName(s.env), s.usage)
	}
	fs.Usage = func() { printUsage(usageOut, name, fs, set) }
	return fs
}

// flagName is the flag of an environment variable: CHAT_REDIS_URL is
// -redis-url.
func flagName(env string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(env, "CHAT_"), "_", "-"))
}

// fromEnvironment sets each flag not given on the command line from its
// variable, and reports every variable refused.
func fromEnvironment(fs *flag.FlagSet, set []setting, getenv func(string) string) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	for _, s := range set {
		name, v := flagName(s.env), getenv(s.env)
		if v == "" || given[name] {
			continue
		}
		if err := fs.Set(name, v); err != nil {
			if s.value.secret {
				errs = append(errs, fmt.Errorf("%s (value not shown): %w", s.env, err))
			} else {
				errs = append(errs, fmt.Errorf("%s=%q: %w", s.env, v, err))
			}
		}
	}
	return errors.Join(errs...)
}

// checkAcross applies the rules that tie settings together; the rules of
// each setting alone were applied as it was set.
func (c *Config) checkAcross() error {
	var errs []error
	if c.AuthMode == "proxy" && len(c.TrustedProxies) == 0 {
		errs = append(errs, fmt.Errorf("%s: must be set in proxy mode (%s=proxy): the CIDRs of the proxies allowed to set %s",
			EnvTrustedProxies, EnvAuthMode, c.ProxyHeader))
	}
	if c.AuthMode == "password" && len(c.Admins) > 0 {
		if n := utf8.RuneCountInString(c.AdminPassword); n < chatserver.MinPasswordLen || n > chatserver.MaxPasswordLen {
			errs = append(errs, fmt.Errorf("%s: must have %d-%d characters, since %s names admins in password mode",
				EnvAdminPassword, chatserver.MinPasswordLen, chatserver.MaxPasswordLen, EnvAdmins))
		}
	}
	return errors.Join(errs...)
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
