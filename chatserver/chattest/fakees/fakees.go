// Package fakees is an Elasticsearch for tests of the indexer: it keeps
// bulk-indexed documents in a map by id, as the real one does with the index
// operation, and the message index's documents by id and external version
// (messages.go); it answers the few calls the indexer makes in
// Elasticsearch 8's format, and fails on demand: as a whole (Mode) or for
// chosen documents (Refuse).
package fakees

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/pem"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chatcluster/chatcluster/chatserver"
)

// Mode is how the server answers.
type Mode int

// The failure modes.
const (
	Up         Mode = iota
	Down            // every request answers 503
	RejectHalf      // a bulk request stores its first half and rejects the rest with 429
)

// Server is the fake Elasticsearch, stopped when the test ends.
type Server struct {
	*httptest.Server

	mu        sync.Mutex
	mode      Mode
	docs      map[string]chatserver.ActivityEvent
	writes    map[string]int     // index operations accepted per id
	refusals  map[string]refusal // how chosen documents are refused, by id
	refused   map[string]int     // bulk items refused per id
	indices   map[string]string  // daily index of each document, by id
	messages  map[string]Message // the message index's documents, by id
	template  bool
	policy    bool // the lifecycle policy was installed
	failedReq int  // requests answered with a failure
}

func newServer() *Server {
	return &Server{docs: map[string]chatserver.ActivityEvent{}, writes: map[string]int{}, indices: map[string]string{},
		refusals: map[string]refusal{}, refused: map[string]int{}, messages: map[string]Message{}}
}

// refusal is how the bulk item of a chosen document is refused.
type refusal struct {
	status int
	times  int // refusals left; < 0: every time
}

// Start starts a fake Elasticsearch over http.
func Start(t testing.TB) *Server {
	t.Helper()
	f := newServer()
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// StartTLS starts a fake Elasticsearch over https, with a certificate of
// its own; caFile is a PEM file of that certificate, for clients to trust.
func StartTLS(t testing.TB) (f *Server, caFile string) {
	t.Helper()
	f = newServer()
	f.Server = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	caFile = filepath.Join(t.TempDir(), "es-ca.crt")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f, caFile
}

// SetMode changes how the server answers from now on.
func (f *Server) SetMode(m Mode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = m
}

// Refuse makes the server refuse the bulk items of the documents ids with
// status, and the error Elasticsearch gives with it, the next times times
// each comes; times < 0: every time, as Elasticsearch refuses with 400 a
// document it cannot index (one with a keyword longer than Lucene's longest
// term).
func (f *Server) Refuse(status, times int, ids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range ids {
		f.refusals[id] = refusal{status: status, times: times}
	}
}

// Refused returns how often the bulk item of document id was refused.
func (f *Server) Refused(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused[id]
}

// Writes returns how often document id was written.
func (f *Server) Writes(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes[id]
}

// Snapshot returns the documents, the number of failed requests, and
// whether the template and the lifecycle policy were installed.
func (f *Server) Snapshot() (docs map[string]chatserver.ActivityEvent, failed int, installed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.docs), f.failedReq, f.template && f.policy
}

// IndexOf returns the index the document id was last written to.
func (f *Server) IndexOf(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.indices[id]
}

func (f *Server) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/vnd.elasticsearch+json;compatible-with=8")
	if f.mode == Down {
		f.failedReq++
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"error":{"type":"cluster_block_exception","reason":"blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];"},"status":503}`)
		return
	}
	switch {
	case r.Method == http.MethodHead && r.URL.Path == "/":
		w.WriteHeader(http.StatusOK)
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/_ilm/policy/"):
		f.policy = true
		_, _ = io.WriteString(w, `{"acknowledged":true}`)
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/_index_template/"):
		f.template = true
		_, _ = io.WriteString(w, `{"acknowledged":true}`)
	case r.Method == http.MethodPut && strings.Count(r.URL.Path, "/") == 1:
		createIndex(w, r.URL.Path[1:])
	case r.Method == http.MethodPost && r.URL.Path == "/_bulk":
		f.bulk(w, r)
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":{"type":"illegal_argument_exception","reason":"not faked"},"status":404}`)
	}
}

func (f *Server) bulk(w http.ResponseWriter, r *http.Request) {
	type action struct {
		Index struct {
			Index       string `json:"_index"`
			ID          string `json:"_id"`
			Version     int64  `json:"version"`
			VersionType string `json:"version_type"`
		} `json:"index"`
	}
	var items []map[string]any
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var lines [][]byte
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	if len(lines)%2 != 0 {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"type":"illegal_argument_exception","reason":"The bulk request must be terminated by a newline [\\n]"},"status":400}`)
		return
	}
	n := len(lines) / 2
	failed := false
	for i := range n {
		var a action
		err := json.Unmarshal(lines[2*i], &a)
		if err == nil && a.Index.VersionType == "external" {
			item, ok := f.indexMessage(a.Index.Index, a.Index.ID, a.Index.Version, lines[2*i+1], f.forced(i, n, a.Index.ID))
			items = append(items, item)
			failed = failed || !ok
			continue
		}
		var ev chatserver.ActivityEvent
		if err != nil || a.Index.ID == "" || json.Unmarshal(lines[2*i+1], &ev) != nil || ev.ID != a.Index.ID {
			items = append(items, map[string]any{"index": map[string]any{"_id": a.Index.ID, "status": 400,
				"error": map[string]string{"type": "document_parsing_exception", "reason": "not an activity event with its id as _id"}}})
			failed = true
			continue
		}
		if status := f.forced(i, n, ev.ID); status != 0 {
			items = append(items, map[string]any{"index": map[string]any{"_index": a.Index.Index, "_id": a.Index.ID, "status": status, "error": itemError(status)}})
			failed = true
			continue
		}
		result, status := "created", 201
		if _, ok := f.docs[ev.ID]; ok {
			result, status = "updated", 200
		}
		f.docs[ev.ID] = ev
		f.indices[ev.ID] = a.Index.Index
		f.writes[ev.ID]++
		items = append(items, map[string]any{"index": map[string]any{"_index": a.Index.Index, "_id": a.Index.ID, "_version": f.writes[ev.ID], "result": result, "status": status}})
	}
	if failed {
		f.failedReq++
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"took": 1, "errors": failed, "items": items})
}

// forced is the status the item i of n, about document id, is refused
// with, by the mode or by Refuse; 0: none.
func (f *Server) forced(i, n int, id string) int {
	status := 0
	if f.mode == RejectHalf && i >= n/2 {
		status = http.StatusTooManyRequests
	}
	if r, ok := f.refusals[id]; ok && r.times != 0 {
		status, r.times = r.status, r.times-1
		f.refusals[id] = r
		f.refused[id]++
	}
	return status
}

// itemError is the error Elasticsearch gives with a bulk item refused with
// status.
func itemError(status int) map[string]string {
	switch status {
	case http.StatusBadRequest:
		return map[string]string{"type": "illegal_argument_exception", "reason": "Document contains at least one immense term in field=\"room\" (whose UTF8 encoding is longer than the max length 32766), all of which were skipped."}
	case http.StatusTooManyRequests:
		return map[string]string{"type": "es_rejected_execution_exception", "reason": "rejected execution of coordinating operation"}
	case http.StatusServiceUnavailable:
		return map[string]string{"type": "unavailable_shards_exception", "reason": "primary shard is not active"}
	default:
		return map[string]string{"type": "exception", "reason": http.StatusText(status)}
	}
}
