package es_test

import (
	"net/http"
	"testing"
)

// Elasticsearch splits a path before it decodes the parts: an id with a
// slash is sent as %2F and comes back whole; a raw slash is another path.
func TestHTTP_DocumentIDWithASlash(t *testing.T) {
	n := startNode(t, t.TempDir())
	if status, _, body := call(t, "PUT", n.URL+"/ids/_doc/general%2F5?refresh=true", `{"n":1}`, ""); status != http.StatusCreated || body["_id"] != "general/5" {
		t.Fatalf("index: %d %v", status, body)
	}
	tests := map[string]struct {
		path   string
		status int
		found  bool
	}{
		"EscapedSlashIsPartOfTheID": {path: "/ids/_doc/general%2F5", status: http.StatusOK, found: true},
		"RawSlashIsAnotherPath":     {path: "/ids/_doc/general/5", status: http.StatusBadRequest},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			status, _, body := call(t, "GET", n.URL+tt.path, "", "")
			if status != tt.status || (body["_id"] == "general/5") != tt.found {
				t.Fatalf("%d %v", status, body)
			}
		})
	}
}
