package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/chatcluster/chatcluster/chatserver/config"
)

// Main runs the chatserver command on args (without the program's name):
// `index` and its flags run the Indexer, other flags the Server. Flags win
// over the variables getenv reads; the usage and the JSON logs go to
// stderr. It returns when ctx ends, having shut down gracefully, or when
// it cannot start (flag.ErrHelp after -h).
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "index" {
		return runIndexer(ctx, args[1:], getenv, stdout, stderr)
	}
	cfg, err := config.Parse("chatserver", args, getenv, stderr)
	if err != nil {
		return err
	}
	s := New(cfg, NewLogger(cfg.LogLevel, stderr), Options{})
	if err := s.Open(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}

func runIndexer(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := config.Parse("chatserver index", args, getenv, stderr)
	if err != nil {
		return err
	}
	x := NewIndexer(cfg, NewLogger(cfg.LogLevel, stderr), nil)
	if err := x.Open(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "indexer: probes on %s, topic %s, group %s\n", x.Addr(), cfg.KafkaTopic, cfg.IndexerGroup)
	select {
	case <-ctx.Done():
	case <-x.Done():
	}
	return x.Close()
}

// NewLogger is the server's logger: JSON lines to w at level, a level
// config.Parse has checked.
func NewLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // config.Parse checked it
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}
