// Command standin-mongodb stands in for the mongo image: it takes mongod's
// command line (--port, default 27017; --dbpath, default /data/db;
// --bind_ip_all or --bind_ip) and serves the MongoDB wire protocol with
// FerretDB v1.24.2 on SQLite files under the dbpath. It exits 0 on SIGTERM.
package main

import (
	"os"

	"github.com/chatcluster/chatcluster/test/platform/standins"
	"github.com/chatcluster/chatcluster/test/platform/standins/mongodb"
)

func main() {
	standins.Exit("standin-mongodb", run(os.Args[1:], standins.OSEnv()))
}

func run(args []string, env standins.Env) error {
	log := standins.Logger("mongodb")
	cfg, err := mongodb.ParseArgs(args, env)
	if err != nil {
		return err
	}
	srv, err := mongodb.Start(cfg, log)
	if err != nil {
		return err
	}
	ctx, stop := standins.SignalContext()
	defer stop()
	err = srv.Run(ctx)
	log.Info("stopped")
	return err
}
