package main

import (
	"context"
	"log/slog"

	"github.com/chatcluster/chatcluster/chatserver/inmem"
	"github.com/chatcluster/chatcluster/chatserver/service"
	"github.com/chatcluster/chatcluster/chatserver/sqlite"
)

// openBackends opens the backends the configuration names and the embedded
// implementations for the rest: SQLite under the data directory for users,
// sessions, messages and activity, memory for presence and fan-out.
func openBackends(ctx context.Context, cfg *Config, log *slog.Logger) (*service.Backends, error) {
	b := &service.Backends{}
	db, err := sqlite.Open(ctx, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	b.OnClose(db.Close)
	b.Users, b.Sessions, b.Messages, b.Activity, b.Index = db, db, db, db, db
	b.AddCheck("sqlite", db)
	b.Presence = inmem.NewPresence()
	b.Broker = inmem.NewBroker()
	if err := openDataBackends(ctx, cfg, b, log); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}
