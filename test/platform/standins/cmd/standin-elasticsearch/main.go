// Command standin-elasticsearch stands in for the elasticsearch image: one
// Elasticsearch 8 node's HTTP API that really indexes and searches (see
// package standins/es), configured from the image's settings variables
// (path.data, http.port, discovery.type, xpack.security.enabled, ...) and
// -E name=value arguments. It keeps its data under path.data and exits 0 on
// SIGTERM.
package main

import (
	"os"

	"github.com/chatcluster/chatcluster/test/platform/standins"
	"github.com/chatcluster/chatcluster/test/platform/standins/es"
)

func main() {
	standins.Exit("standin-elasticsearch", run(os.Args[1:], standins.OSEnv()))
}

func run(args []string, env standins.Env) error {
	log := standins.Logger("elasticsearch")
	cfg, err := es.ParseConfig(args, env)
	if err != nil {
		return err
	}
	srv, err := es.Start(cfg, log)
	if err != nil {
		return err
	}
	ctx, stop := standins.SignalContext()
	defer stop()
	err = srv.Run(ctx)
	log.Info("stopped")
	return err
}
