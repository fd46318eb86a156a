// Command standin-mongodb stands in for the mongo image: it takes mongod's
// command line (--port, default 27017; --dbpath, default /data/db;
// --bind_ip_all or --bind_ip) and serves the MongoDB wire protocol with
// FerretDB v1.24.2 on SQLite files under the dbpath. It exits 0 on SIGTERM.
package main

import (
	"github.com/chatcluster/chatcluster/test/platform/standins"
	"github.com/chatcluster/chatcluster/test/platform/standins/mongodb"
)

func main() {
	standins.Main("mongodb", mongodb.ParseArgs, mongodb.Start)
}
