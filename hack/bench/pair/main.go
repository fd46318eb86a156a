// Command benchpair runs several chat-server instances in one process that
// share one embedded message store and one Redis, for make bench-peers: the
// two-instance scenario then measures the fan-out through Redis, with a
// store that keeps up (a store per instance would not be a cluster, and no
// MongoDB runs on the bench machine).
//
// Each instance is configured from the environment as the chatserver binary
// is (chatserver -h lists the variables), except that it listens on its own
// address of -addrs, serves its probes on it, and takes CHAT_INSTANCE_ID
// with its index appended. CHAT_REDIS_URL is required; the store is opened
// once under CHAT_DATA_DIR, with CHAT_FSYNC. The CPU time of this process
// and of the Redis server is what the instances cost together.
//
// It prints each instance's URL, writes their ports to -ports-file once all
// of them serve, and shuts them down gracefully on SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/chatcluster/chatcluster/chatserver/app"
	"github.com/chatcluster/chatcluster/chatserver/config"
	"github.com/chatcluster/chatcluster/chatserver/sqlite"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("benchpair: ")
	addrs := flag.String("addrs", "127.0.0.1:0,127.0.0.1:0", "comma-separated listen addresses, one instance each")
	portsFile := flag.String("ports-file", "", "write the instances' ports, space-separated on one line, to this file once all of them serve")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, strings.Split(*addrs, ","), *portsFile, os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

// run serves the instances until ctx ends, then closes them and the store.
func run(ctx context.Context, addrs []string, portsFile string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	cfg, err := config.Parse("benchpair", nil, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.RedisURL == "" {
		return fmt.Errorf("%s is required: without Redis the instances would not see each other's messages", config.EnvRedisURL)
	}
	if cfg.MongoURI != "" {
		return fmt.Errorf("the instances share one embedded store: unset %s", config.EnvMongoDBURI)
	}
	logger := app.NewLogger(cfg.LogLevel, stderr)
	db, err := app.OpenSQLite(ctx, cfg, logger)
	if err != nil {
		return err
	}
	g := &group{db: db}
	defer func() { err = errors.Join(err, g.close()) }()
	for i, addr := range addrs {
		icfg := instanceConfig(cfg, i, strings.TrimSpace(addr))
		s := app.New(icfg, logger, app.Options{SQLite: db})
		g.servers = append(g.servers, s) // Close is safe after a failed Open
		if err := s.Open(ctx); err != nil {
			return fmt.Errorf("instance %s on %s: %w", icfg.InstanceID, icfg.Addr, err)
		}
		fmt.Fprintf(stdout, "benchpair: instance %s on http://%s\n", icfg.InstanceID, s.Addr())
	}
	if portsFile != "" {
		if err := writePorts(portsFile, g.ports()); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

// instanceConfig is instance i's copy of cfg: its own listen address (the
// probes on it too), instance id and data directory (for what an instance
// keeps of its own, such as the activity spool; the store is shared).
func instanceConfig(cfg *config.Config, i int, addr string) *config.Config {
	c := *cfg
	c.Addr, c.ManagementAddr = addr, ""
	c.InstanceID = fmt.Sprintf("%s-%d", cfg.InstanceID, i)
	c.DataDir = filepath.Join(cfg.DataDir, c.InstanceID)
	return &c
}

// group is the instances and the store they share.
type group struct {
	db      *sqlite.DB
	servers []*app.Server
}

func (g *group) ports() []string {
	ports := make([]string, len(g.servers))
	for i, s := range g.servers {
		ports[i] = s.Addr()[strings.LastIndexByte(s.Addr(), ':')+1:]
	}
	return ports
}

// close shuts the instances down together, as SIGTERM to as many processes
// would, then closes the store.
func (g *group) close() error {
	errs := make([]error, len(g.servers)+1)
	var wg sync.WaitGroup
	for i, s := range g.servers {
		wg.Go(func() { errs[i] = s.Close() })
	}
	wg.Wait()
	errs[len(g.servers)] = g.db.Close()
	return errors.Join(errs...)
}

// writePorts writes the ports on one line, whole or not at all: a script
// polling for the file never reads half of it.
func writePorts(path string, ports []string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(ports, " ")+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
