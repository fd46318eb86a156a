package app

import (
	"log/slog"
	"slices"

	"github.com/chatcluster/chatcluster/chatserver/config"
)

// A Kind is a backend that can serve roles.
type Kind string

// The backends. SQLite and Memory are embedded; the others are configured.
const (
	SQLite        Kind = "sqlite"        // under CHAT_DATA_DIR
	Memory        Kind = "memory"        // in this process only
	Redis         Kind = "redis"         // CHAT_REDIS_URL
	MongoDB       Kind = "mongodb"       // CHAT_MONGODB_URI
	Kafka         Kind = "kafka"         // CHAT_KAFKA_BROKERS
	Elasticsearch Kind = "elasticsearch" // CHAT_ELASTICSEARCH_URL
)

// Roles says which backend serves each role of service.Deps. The server
// opens a backend only when a role names it.
type Roles struct {
	Users, Sessions, Messages, Activity, Index, Presence, Broker Kind
	// Search is where messages are searched: the embedded store that keeps
	// them, in the same transactions; else Elasticsearch, which the
	// indexer fills from the activity events on Kafka; else nothing (""),
	// and searches answer unavailable.
	Search Kind
}

// RolesFor decides the roles from the configuration. A configured backend
// takes the roles it can serve; the embedded ones take the rest: SQLite the
// users, sessions, messages, activity log and index, memory presence and
// fan-out. Sessions go to Redis when it is configured (every instance reads
// them at every request), else to where the users are.
func RolesFor(cfg *config.Config) Roles {
	r := Roles{Users: SQLite, Sessions: SQLite, Messages: SQLite, Activity: SQLite, Index: SQLite, Presence: Memory, Broker: Memory}
	if cfg.MongoURI != "" {
		r.Users, r.Sessions, r.Messages = MongoDB, MongoDB, MongoDB
	}
	if cfg.RedisURL != "" {
		r.Sessions, r.Presence, r.Broker = Redis, Redis, Redis
	}
	if len(cfg.KafkaBrokers) > 0 {
		r.Activity = Kafka
	}
	if cfg.ElasticURL != "" {
		r.Index = Elasticsearch
	}
	switch {
	case r.Messages == SQLite:
		r.Search = SQLite
	case r.Activity == Kafka && r.Index == Elasticsearch:
		r.Search = Elasticsearch
	}
	return r
}

// Limits is where the sign-in limits are counted: where presence is, so
// that they hold across every instance when Redis is configured.
func (r Roles) Limits() Kind { return r.Presence }

// Uses reports whether k serves at least one role.
func (r Roles) Uses(k Kind) bool {
	return slices.Contains([]Kind{r.Users, r.Sessions, r.Messages, r.Activity, r.Index, r.Presence, r.Broker}, k)
}

// LogValue logs the roles as a group: users=sqlite sessions=redis …
func (r Roles) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("users", string(r.Users)), slog.String("sessions", string(r.Sessions)),
		slog.String("messages", string(r.Messages)), slog.String("activity", string(r.Activity)),
		slog.String("index", string(r.Index)), slog.String("presence", string(r.Presence)),
		slog.String("broker", string(r.Broker)), slog.String("search", string(r.Search)),
	)
}
