// Package mongodb runs FerretDB v1.24.2 (SQLite storage) in place of the
// mongo image's mongod: it takes mongod's command line as the image passes
// it and serves the MongoDB wire protocol from files under --dbpath.
package mongodb

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/FerretDB/FerretDB/ferretdb"

	"github.com/chatcluster/chatcluster/test/platform/standins"
)

// mongod's exit status for command-line errors (EXIT_BADOPTIONS) and for a
// data directory it cannot use (EXIT_NEED_UPGRADE is 62; NonExistentPath
// ends start-up with 100, EXIT_UNCAUGHT).
const (
	exitBadOptions = 2
	exitUncaught   = 100
)

// Config is what the stand-in takes from mongod's command line.
type Config struct {
	Port   int    // --port, default 27017
	BindIP string // --bind_ip (one address); "" means every address (--bind_ip_all, the image's default)
	DBPath string // --dbpath, default /data/db
}

// Addr is the listen address.
func (c Config) Addr() string {
	return net.JoinHostPort(c.BindIP, strconv.Itoa(c.Port))
}

// flags that take no value and change nothing FerretDB could honour
// differently.
var ignoredSwitches = map[string]bool{
	"--bind_ip_all": true, "--ipv6": true, "--quiet": true, "--nounixsocket": true,
	"--noauth": true, "--journal": true,
}

// flags with a value that only tune mongod's own engine.
var ignoredValued = map[string]bool{
	"--wiredTigerCacheSizeGB": true, "--oplogSize": true,
	"--verbosity": true, "--maxConns": true, "--unixSocketPrefix": true,
}

// ParseArgs reads the container's args as the mongo image's entrypoint
// passes them to mongod: a leading "mongod" is the program itself; any other
// leading word is a different command, which the stand-in cannot run.
// Options mongod knows but the stand-in cannot honour (--auth, --replSet,
// --config, TLS, ...) and unknown options are refused, as mongod refuses
// what it does not understand.
func ParseArgs(args []string, env standins.Env) (Config, error) {
	cfg := Config{Port: 27017, DBPath: "/data/db"}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		if args[0] != "mongod" {
			return cfg, standins.Refuse(exitBadOptions, "the stand-in runs only mongod, not %q", args[0])
		}
		args = args[1:]
	}
	if env["MONGO_INITDB_ROOT_USERNAME"] != "" || env["MONGO_INITDB_ROOT_PASSWORD"] != "" ||
		env["MONGO_INITDB_ROOT_USERNAME_FILE"] != "" || env["MONGO_INITDB_ROOT_PASSWORD_FILE"] != "" {
		return cfg, standins.Refuse(exitBadOptions, "MONGO_INITDB_ROOT_USERNAME/PASSWORD are set: the image would create a root user and enable authentication, which the stand-in (FerretDB, SQLite) does not reproduce")
	}
	bindAll := false
	for i := 0; i < len(args); i++ {
		name, value, hasValue := strings.Cut(args[i], "=")
		next := func() (string, error) {
			if hasValue {
				return value, nil
			}
			if i+1 >= len(args) {
				return "", standins.Refuse(exitBadOptions, "Error parsing command line: the required argument for option '%s' is missing", name)
			}
			i++
			return args[i], nil
		}
		switch {
		case name == "--port":
			v, err := next()
			if err != nil {
				return cfg, err
			}
			p, perr := strconv.Atoi(v)
			if perr != nil || p < 1 || p > 65535 {
				return cfg, standins.Refuse(exitBadOptions, "Error parsing command line: invalid value %q for option '--port'", v)
			}
			cfg.Port = p
		case name == "--dbpath":
			v, err := next()
			if err != nil {
				return cfg, err
			}
			cfg.DBPath = v
		case name == "--bind_ip":
			v, err := next()
			if err != nil {
				return cfg, err
			}
			if strings.Contains(v, ",") {
				return cfg, standins.Refuse(exitBadOptions, "--bind_ip %q: the stand-in listens on one address only", v)
			}
			cfg.BindIP = v
		case name == "--bind_ip_all":
			bindAll = true
		case ignoredSwitches[name] && !hasValue:
		case ignoredValued[name]:
			if _, err := next(); err != nil {
				return cfg, err
			}
		case strings.HasPrefix(name, "--"):
			return cfg, standins.Refuse(exitBadOptions, "Error parsing command line: unrecognised option '%s' (or one the stand-in cannot honour)", name)
		default:
			return cfg, standins.Refuse(exitBadOptions, "Error parsing command line: too many positional options have been specified on the command line (%q)", args[i])
		}
	}
	if bindAll {
		cfg.BindIP = ""
	}
	return cfg, nil
}

// Server is a running FerretDB.
type Server struct {
	cfg Config
	fdb *ferretdb.FerretDB
}

// Start checks the data directory and binds the port; Run serves.
func Start(cfg Config, log *slog.Logger) (*Server, error) {
	dir, err := filepath.Abs(cfg.DBPath)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return nil, standins.Refuse(exitUncaught, "NonExistentPath: Data directory %s not found. Create the missing directory or specify another path using (1) the --dbpath command line option, or (2) by adding the 'storage.dbPath' option in the configuration file.", dir)
	}
	probe, err := os.CreateTemp(dir, ".standin-write-check-*")
	if err != nil {
		return nil, standins.Refuse(exitUncaught, "data directory %s is not writable: %v", dir, err)
	}
	_ = probe.Close()
	_ = os.Remove(probe.Name())

	fdb, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: cfg.Addr()},
		Logger:    standins.QuietLogger("mongodb"),
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
	})
	if err != nil {
		return nil, fmt.Errorf("ferretdb: %w", err)
	}
	log.Info("serving the MongoDB wire protocol (FerretDB v1.24.2, SQLite)", "addr", cfg.Addr(), "dbpath", dir)
	return &Server{cfg: cfg, fdb: fdb}, nil
}

// Run serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	return s.fdb.Run(ctx)
}
