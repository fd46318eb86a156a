package config

import (
	"fmt"
	"os"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

// setting is one configuration entry: its variable (and so its flag, see
// flagName), what it is for, and the Config field it fills with its default
// and the values it accepts.
type setting struct {
	env   string
	group group
	usage string // one line of meaning, for -h
	value value
}

// group is what a setting is for; -h lists the settings by group, in the
// order of groups.
type group string

const (
	groupServer  group = "Server"
	groupAuth    group = "Authentication"
	groupLimits  group = "Limits, per connection"
	groupLogging group = "Logging and profiling"
	groupStorage group = "Embedded storage"
	groupRedis   group = "Redis: presence, fan-out and sessions"
	groupMongoDB group = "MongoDB: users and messages"
	groupKafka   group = "Kafka: activity events"
	groupElastic group = "Elasticsearch: activity search and stats"
	groupIndexer group = "Indexer (chatserver index): from Kafka into Elasticsearch"
)

var groups = []group{groupServer, groupAuth, groupLimits, groupLogging, groupStorage, groupRedis, groupMongoDB, groupKafka, groupElastic, groupIndexer}

// settings is the table of every setting, bound to c's fields.
func (c *Config) settings() []setting {
	host, _ := os.Hostname()
	return []setting{
		{EnvAddr, groupServer, "listen address of the API, the WebSocket and the web UI; of the probes and metrics too unless CHAT_MANAGEMENT_ADDR is set",
			text(&c.Addr, ":8080", address)},
		{EnvManagementAddr, groupServer, "listen address of /healthz, /readyz, /metrics and /debug/pprof; empty: served on CHAT_ADDR",
			text(&c.ManagementAddr, "", address)},
		{EnvAllowedOrigins, groupServer, "comma-separated origins allowed on the WebSocket upgrade besides the server's own host",
			list(&c.AllowedOrigins, "origins like https://chat.example.com", origin)},
		{EnvInstanceID, groupServer, "this instance's id in the shared presence registry",
			text(&c.InstanceID, fmt.Sprintf("%s-%d", host, os.Getpid()))},
		{EnvShutdownTimeout, groupServer, "bound on graceful shutdown",
			duration(&c.ShutdownTimeout, 10*time.Second, positive)},
		{EnvReadHeaderTimeout, groupServer, "bound on reading a request's line and headers (slow clients are cut off)",
			duration(&c.ReadHeaderTimeout, 10*time.Second, positive)},
		{EnvReadTimeout, groupServer, "bound on reading a whole request, headers and body",
			duration(&c.ReadTimeout, 30*time.Second, positive)},
		{EnvIdleTimeout, groupServer, "a keep-alive connection idle this long after a request is closed",
			duration(&c.IdleTimeout, 60*time.Second, positive)},
		{EnvHandshakeTimeout, groupServer, "bound on writing the WebSocket handshake's answer",
			duration(&c.HandshakeTimeout, 10*time.Second, positive)},
		{EnvMaxHeaderBytes, groupServer, "bytes of a request's line and headers (431 beyond)",
			whole(&c.MaxHeaderBytes, 16<<10, atLeast(4<<10))},
		{EnvMaxBodyBytes, groupServer, "bytes of a request body (413 too_large beyond)",
			whole(&c.MaxBodyBytes, 64<<10, atLeast(1<<10))},

		{EnvAuthMode, groupAuth, "password: users sign up with a password; proxy: an authenticating proxy names the user in a header",
			choice(&c.AuthMode, "password", "password", "proxy")},
		{EnvProxyHeader, groupAuth, "request header holding the user id in proxy mode",
			text(&c.ProxyHeader, "X-Forwarded-User", notEmpty("a header name"))},
		{EnvTrustedProxies, groupAuth, "comma-separated CIDRs or addresses of the proxies whose user header is trusted (required in proxy mode)",
			list(&c.TrustedProxies, "CIDRs like 10.0.0.0/8 or IP addresses", cidr)},
		{EnvSessionKey, groupAuth, "secret mixed into stored token hashes; empty: plain SHA-256",
			secret(text(&c.SessionKey, ""))},
		{EnvSessionTTL, groupAuth, "session lifetime",
			duration(&c.SessionTTL, 7*24*time.Hour, positive)},
		{EnvAdmins, groupAuth, "comma-separated admin user ids (they may read the activity log)",
			list(&c.Admins, "user ids (1-32 of a-z, 0-9, '.', '-', starting with a letter or digit)", userID)},
		{EnvAdminPassword, groupAuth, "initial password of admin accounts that do not exist yet (password mode; required with admins)",
			secret(text(&c.AdminPassword, ""))},
		{EnvSignInUserFailures, groupAuth, "failed sign-ins of one user name, from anywhere, within CHAT_SIGNIN_FAILURE_WINDOW; beyond them the name's sign-ins get 429 (0: no limit)",
			whole(&c.SignInUserFailures, 10, atLeast(0))},
		{EnvSignInAddrFailures, groupAuth, "failed sign-ins and refused registrations from one client address within CHAT_SIGNIN_FAILURE_WINDOW; beyond them its sign-ins get 429 (0: no limit)",
			whole(&c.SignInAddrFailures, 1000, atLeast(0))},
		{EnvSignInFailureWindow, groupAuth, "the window of the failure limits: a burst of that many failures, then one more each window/limit",
			duration(&c.SignInFailureWindow, 15*time.Minute, atLeast(time.Second))},
		{EnvSignupsPerAddress, groupAuth, "accounts registered from one client address per hour; beyond them registrations get 429 (0: no limit)",
			whole(&c.SignupsPerAddress, 0, atLeast(0))},
		{EnvSignInHashWait, groupAuth, "longest a sign-in waits for a password-hashing slot before it gets 429",
			duration(&c.SignInHashWait, 2*time.Second, positive)},
		{EnvSignInTrackedKeys, groupAuth, "user names and client addresses the sign-in limits track in memory, without Redis",
			whole(&c.SignInTrackedKeys, 100_000, atLeast(1000))},
		{EnvPasswordRefuseCommon, groupAuth, "refuse common passwords (from a list of the 10,000 most common) for new accounts",
			boolean(&c.PasswordRefuseCommon, false)},

		{EnvRateLimit, groupLimits, "commands per second (0 disables the limit)",
			number(&c.RateLimit, 20, atLeast(0.0))},
		{EnvRateBurst, groupLimits, "burst of the rate limit",
			whole(&c.RateBurst, 40, atLeast(1))},
		{EnvSendQueue, groupLimits, "bytes queued for a connection before it is closed as too slow (1008)",
			whole(&c.SendQueue, 4<<20, atLeast(64<<10))},
		{EnvRateBytes, groupLimits, "bytes of replies per second, with the rate limit: a command is refused (rate_limited) while the replies to earlier ones used them up (0: not counted)",
			whole(&c.RateBytes, 1<<20, atLeast(0))},
		{EnvRateBytesBurst, groupLimits, "burst of CHAT_RATE_BYTES",
			whole(&c.RateBytesBurst, 4<<20, atLeast(16<<10))},
		{EnvRateFlood, groupLimits, "commands a connection may send while rate limited, beyond what the rate gives back, before it is closed (1008)",
			whole(&c.RateFlood, 200, atLeast(1))},
		{EnvPageBytes, groupLimits, "bytes of JSON of the messages of a join or history page: a page stops before the message that would pass them, with has_more (one message at least)",
			whole(&c.PageBytes, 256<<10, atLeast(16<<10))},
		{EnvMaxRooms, groupLimits, "rooms the connections of one user on this instance may have joined at once (bad_request beyond)",
			whole(&c.MaxRooms, 1000, atLeast(1))},
		{EnvConnectEvents, groupLimits, "connections of one user per minute on this instance recorded in the activity log (ws.connect, ws.disconnect); the others go unrecorded (0: all)",
			whole(&c.ConnectEvents, 0, atLeast(0))},
		{EnvMaxConnectionsPerAddress, groupLimits, "open connections (HTTP and WebSocket) from one client address; more are refused (0: no cap)",
			whole(&c.MaxConnectionsPerAddress, 0, atLeast(0))},
		{EnvMaxUnauthenticatedPerAddress, groupLimits, "connections from one client address that carried no valid session yet; more are refused (0: no cap; by default a quarter of the process's open-file limit, so that one address cannot take every file handle)",
			whole(&c.MaxUnauthenticatedPerAddress, openFiles()/4, atLeast(0))},
		{EnvMaxSocketsPerUser, groupLimits, "WebSockets of one user on this instance; more get 429 (0: no cap)",
			whole(&c.MaxSocketsPerUser, 0, atLeast(0))},
		{EnvMaxSocketsPerAddress, groupLimits, "WebSockets from one client address on this instance; more get 429 (0: no cap)",
			whole(&c.MaxSocketsPerAddress, 0, atLeast(0))},

		{EnvLogLevel, groupLogging, "least level of the JSON logs on stderr",
			choice(&c.LogLevel, "info", "debug", "info", "warn", "error")},
		{EnvPprof, groupLogging, "serve Go profiles at /debug/pprof (for benchmarks; never expose it publicly)",
			boolean(&c.Pprof, false)},

		{EnvDataDir, groupStorage, "directory of the embedded database and of the Kafka spool",
			text(&c.DataDir, "./data")},
		{EnvFsync, groupStorage, "acknowledge a send only after fsync (true: survives power loss; false: survives crashes and restarts, with lower latency)",
			boolean(&c.Fsync, true)},

		{EnvRedisURL, groupRedis, "Redis URL; empty: presence, fan-out and sessions in memory",
			secret(text(&c.RedisURL, "", scheme("redis", "rediss")))},
		{EnvRedisPassword, groupRedis, "Redis password, when not in the URL",
			secret(text(&c.RedisPassword, ""))},
		{EnvRedisCAFile, groupRedis, "PEM file of CAs trusted for TLS to Redis (rediss://)",
			text(&c.RedisCAFile, "")},

		{EnvMongoDBURI, groupMongoDB, "MongoDB URI; empty: users and messages in the embedded database",
			secret(text(&c.MongoURI, "", scheme("mongodb", "mongodb+srv")))},
		{EnvMongoDBDatabase, groupMongoDB, "MongoDB database name",
			text(&c.MongoDatabase, "chat")},
		{EnvMongoDBCAFile, groupMongoDB, "PEM file of CAs trusted for TLS to MongoDB (turns TLS on)",
			text(&c.MongoDBCAFile, "")},

		{EnvKafkaBrokers, groupKafka, "comma-separated Kafka brokers; empty: the embedded activity log",
			list(&c.KafkaBrokers, "brokers", anyItem)},
		{EnvKafkaTopic, groupKafka, "topic of activity events",
			text(&c.KafkaTopic, chatserver.ActivityTopic, notEmpty("a topic name"))},
		{EnvKafkaUsername, groupKafka, "SASL username",
			text(&c.KafkaUsername, "")},
		{EnvKafkaPassword, groupKafka, "SASL password",
			secret(text(&c.KafkaPassword, ""))},
		{EnvKafkaMechanism, groupKafka, "SASL mechanism; empty: no SASL",
			choiceAnyCase(&c.KafkaMechanism, "", "plain", "scram-sha-256", "scram-sha-512")},
		{EnvKafkaTLS, groupKafka, "TLS to Kafka, trusting the system's CAs unless CHAT_KAFKA_CA_FILE is set",
			boolean(&c.KafkaTLS, false)},
		{EnvKafkaCAFile, groupKafka, "PEM file of CAs trusted for TLS to Kafka (turns TLS on)",
			text(&c.KafkaCAFile, "")},
		{EnvKafkaPartitions, groupKafka, "partitions of the activity topic when the server creates it",
			whole(&c.KafkaPartitions, 3, atLeast(1))},
		{EnvKafkaReplicationFactor, groupKafka, "replication factor of the activity topic when the server creates it; -1: the brokers' default",
			whole(&c.KafkaReplication, -1, replicationFactor)},
		{EnvKafkaRetention, groupKafka, "how long Kafka keeps activity events",
			duration(&c.KafkaRetention, 7*24*time.Hour, atLeast(time.Minute))},

		{EnvElasticsearchURL, groupElastic, "Elasticsearch URL; empty: activity search and stats from the embedded database",
			secret(text(&c.ElasticURL, "", scheme("http", "https")))},
		{EnvElasticsearchUsername, groupElastic, "Elasticsearch username",
			text(&c.ElasticUsername, "")},
		{EnvElasticsearchPassword, groupElastic, "Elasticsearch password",
			secret(text(&c.ElasticPassword, ""))},
		{EnvElasticsearchAPIKey, groupElastic, "Elasticsearch API key (instead of username and password)",
			secret(text(&c.ElasticAPIKey, ""))},
		{EnvElasticsearchIndex, groupElastic, "prefix of the daily index names (and of their template)",
			text(&c.ElasticIndex, "chat-activity")},
		{EnvElasticsearchCAFile, groupElastic, "PEM file of CAs trusted for TLS to Elasticsearch (https://)",
			text(&c.ElasticCAFile, "")},
		{EnvElasticsearchRetention, groupElastic, "how long activity events stay in the index",
			duration(&c.ElasticRetention, 30*24*time.Hour, atLeast(time.Hour))},

		{EnvIndexerGroup, groupIndexer, "Kafka consumer group of the indexer",
			text(&c.IndexerGroup, "chat-indexer")},
		{EnvIndexerBatch, groupIndexer, "events per Elasticsearch bulk request",
			whole(&c.IndexerBatch, 500, atLeast(1))},
		{EnvIndexerFlushInterval, groupIndexer, "longest wait before a partial batch is written",
			duration(&c.IndexerFlushInterval, time.Second, positive)},
		{EnvIndexerRetryBackoff, groupIndexer, "first wait before a failed bulk write is retried",
			duration(&c.IndexerRetryBackoff, 500*time.Millisecond, positive)},
	}
}
