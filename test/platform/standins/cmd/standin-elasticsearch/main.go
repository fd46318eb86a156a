// Command standin-elasticsearch stands in for the elasticsearch image: one
// Elasticsearch 8 node's HTTP API that really indexes and searches (see
// package standins/es), configured from the image's settings variables
// (path.data, http.port, discovery.type, xpack.security.enabled, ...) and
// -E name=value arguments. It keeps its data under path.data and exits 0 on
// SIGTERM.
package main

import (
	"github.com/chatcluster/chatcluster/test/platform/standins"
	"github.com/chatcluster/chatcluster/test/platform/standins/es"
)

func main() {
	standins.Main("elasticsearch", es.ParseConfig, es.Start)
}
