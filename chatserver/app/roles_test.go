package app

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/chatcluster/chatcluster/chatserver/config"
)

func TestRolesFor(t *testing.T) {
	tests := map[string]struct {
		env        []string
		want       Roles
		wantSQLite bool
	}{
		"NothingConfiguredKeepsEveryRoleInTheProcess": {
			want:       Roles{Users: SQLite, Sessions: SQLite, Messages: SQLite, Activity: SQLite, Index: SQLite, Presence: Memory, Broker: Memory, Search: SQLite},
			wantSQLite: true,
		},
		"RedisTakesSessionsPresenceAndFanOut": {
			env:        []string{"CHAT_REDIS_URL", "redis://redis:6379/0"},
			want:       Roles{Users: SQLite, Sessions: Redis, Messages: SQLite, Activity: SQLite, Index: SQLite, Presence: Redis, Broker: Redis, Search: SQLite},
			wantSQLite: true,
		},
		"MongoDBWithoutElasticsearchLeavesNoMessageSearch": {
			env:        []string{"CHAT_MONGODB_URI", "mongodb://mongo:27017"},
			want:       Roles{Users: MongoDB, Sessions: MongoDB, Messages: MongoDB, Activity: SQLite, Index: SQLite, Presence: Memory, Broker: Memory},
			wantSQLite: true,
		},
		"RedisKeepsTheSessionsWhenMongoDBHasTheUsers": {
			env:        []string{"CHAT_MONGODB_URI", "mongodb://mongo:27017", "CHAT_REDIS_URL", "redis://redis:6379/0"},
			want:       Roles{Users: MongoDB, Sessions: Redis, Messages: MongoDB, Activity: SQLite, Index: SQLite, Presence: Redis, Broker: Redis},
			wantSQLite: true,
		},
		"KafkaAndElasticsearchTakeTheActivityLogAndItsIndexButNotSQLitesSearch": {
			env:        []string{"CHAT_KAFKA_BROKERS", "kafka:9092", "CHAT_ELASTICSEARCH_URL", "http://es:9200"},
			want:       Roles{Users: SQLite, Sessions: SQLite, Messages: SQLite, Activity: Kafka, Index: Elasticsearch, Presence: Memory, Broker: Memory, Search: SQLite},
			wantSQLite: true,
		},
		"EveryBackendConfiguredLeavesNoRoleToSQLiteAndSearchesInElasticsearch": {
			env: []string{"CHAT_REDIS_URL", "redis://redis:6379/0", "CHAT_MONGODB_URI", "mongodb://mongo:27017",
				"CHAT_KAFKA_BROKERS", "kafka:9092", "CHAT_ELASTICSEARCH_URL", "http://es:9200"},
			want: Roles{Users: MongoDB, Sessions: Redis, Messages: MongoDB, Activity: Kafka, Index: Elasticsearch, Presence: Redis, Broker: Redis, Search: Elasticsearch},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Parse("chatserver", nil, env(tt.env...), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			got := RolesFor(cfg)
			if got != tt.want {
				t.Fatalf("roles %+v, want %+v", got, tt.want)
			}
			if got.Uses(SQLite) != tt.wantSQLite {
				t.Fatalf("SQLite used: %v, want %v", got.Uses(SQLite), tt.wantSQLite)
			}
		})
	}
}

// A send stores its message and its activity event in one write only when
// one store keeps both, and the backends say so when they are opened.
func TestOneWriteForMessageAndEventOnlyWhenSQLiteKeepsBoth(t *testing.T) {
	tests := map[string]struct {
		env          []string
		wantRecorder bool
	}{
		"SQLiteKeepsMessagesAndActivity": {wantRecorder: true},
		"KafkaKeepsTheActivity":          {env: []string{"CHAT_KAFKA_BROKERS", freeAddr(t), "CHAT_SHUTDOWN_TIMEOUT", "1s"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, err := config.Parse("chatserver", nil, env(append([]string{"CHAT_DATA_DIR", t.TempDir()}, tt.env...)...), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			b, err := openBackends(context.Background(), cfg, RolesFor(cfg), &Options{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if got := b.Recorder != nil; got != tt.wantRecorder {
				t.Fatalf("one write for a message and its event: %v, want %v", got, tt.wantRecorder)
			}
		})
	}
}
