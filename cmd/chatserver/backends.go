package main

import (
	"context"
	"log/slog"

	"github.com/chatcluster/chatcluster/chatserver/config"
	"github.com/chatcluster/chatcluster/chatserver/inmem"
	"github.com/chatcluster/chatcluster/chatserver/redis"
	"github.com/chatcluster/chatcluster/chatserver/service"
	"github.com/chatcluster/chatcluster/chatserver/sqlite"
)

// openBackends opens the backends the configuration names and the embedded
// implementations for the rest: SQLite under the data directory for users,
// sessions, messages and activity, memory for presence and fan-out.
//
// Each gets a readiness check: the stores of users, sessions and messages
// and Redis are critical (without them this instance cannot serve chat),
// Kafka and Elasticsearch only degrade it (the spool keeps sends working;
// only the admins' activity search and stats need Elasticsearch).
func openBackends(ctx context.Context, cfg *config.Config, log *slog.Logger) (*service.Backends, error) {
	b := &service.Backends{}
	db, err := sqlite.Open(ctx, cfg.DataDir, sqliteOptions(cfg, log)...)
	if err != nil {
		return nil, err
	}
	b.OnClose(db.Close)
	b.Users, b.Sessions, b.Messages, b.Activity, b.Index = db, db, db, db, db
	b.AddCheck("sqlite", db, service.Critical)
	b.Presence = inmem.NewPresence()
	b.Broker = inmem.NewBroker()
	if err := openRedis(ctx, cfg, b, log); err != nil {
		b.Close()
		return nil, err
	}
	if err := openDataBackends(ctx, cfg, b, log); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// openRedis replaces presence, fan-out and sessions with Redis when
// CHAT_REDIS_URL is set, so that several instances share them.
func openRedis(ctx context.Context, cfg *config.Config, b *service.Backends, log *slog.Logger) error {
	if cfg.RedisURL == "" {
		return nil
	}
	rc, err := redis.Open(ctx, redis.Config{
		URL:        cfg.RedisURL,
		Password:   cfg.RedisPassword,
		CAFile:     cfg.RedisCAFile,
		InstanceID: cfg.InstanceID,
		Logger:     log,
	})
	if err != nil {
		return err
	}
	b.OnClose(rc.Close)
	b.Presence, b.Broker, b.Sessions = rc.Presence(), rc.Broker(), rc.Sessions()
	b.AddCheck("redis", rc, service.Critical)
	log.Info("redis: presence, fan-out and sessions shared", "instance", cfg.InstanceID)
	return nil
}

func sqliteOptions(cfg *config.Config, log *slog.Logger) []sqlite.Option {
	opts := []sqlite.Option{sqlite.WithLogger(log)}
	if !cfg.Fsync {
		opts = append(opts, sqlite.WithoutFsync())
	}
	return opts
}
