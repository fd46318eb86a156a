package main

import (
	"context"
	"log/slog"

	"github.com/chatcluster/chatcluster/chatserver/service"
)

// openDataBackends replaces the embedded users, messages, activity log and
// activity index with MongoDB, Kafka and Elasticsearch where configured.
func openDataBackends(ctx context.Context, cfg *Config, b *service.Backends, log *slog.Logger) error {
	return nil
}
