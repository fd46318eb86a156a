package es

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

const maxContentLength = 100 << 20 // http.max_content_length

// Server is the HTTP API of the stand-in node.
type Server struct {
	cfg   Config
	store *Store
	log   *slog.Logger
	ln    net.Listener
	srv   *http.Server
}

// Start opens the data path and binds the HTTP port.
func Start(cfg Config, log *slog.Logger) (*Server, error) {
	store, err := OpenStore(cfg, log)
	if err != nil {
		return nil, err
	}
	ln, err := cfg.listen()
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	s := NewServer(cfg, store, log)
	s.ln = ln
	log.Info("Elasticsearch stand-in serving", "addr", ln.Addr().String(), "path.data", cfg.DataPath,
		"cluster.name", cfg.ClusterName, "version", Version)
	if len(cfg.Ignored) > 0 {
		log.Info("settings the stand-in does not use", "settings", strings.Join(cfg.Ignored, ","))
	}
	return s, nil
}

// NewServer serves a store; tests use its Handler directly.
func NewServer(cfg Config, store *Store, log *slog.Logger) *Server {
	s := &Server{cfg: cfg, store: store, log: log}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 30 * time.Second}
	return s
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Run serves until ctx ends, then lets requests in flight finish (10s at
// most) and closes the store.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	var err error
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if serr := s.srv.Shutdown(sctx); serr != nil {
			// Requests still waiting (a health check with
			// wait_for_status, say) are cut short.
			s.log.Warn("closing requests still in flight", "err", serr)
			_ = s.srv.Close()
		}
		cancel()
	case err = <-errc:
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if cerr := s.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// request is one API call being answered.
type request struct {
	w      http.ResponseWriter
	r      *http.Request
	q      url.Values
	body   []byte
	parts  []string
	compat bool
	status int
}

func (rq *request) json(status int, v any) {
	h := rq.w.Header()
	if rq.compat {
		h.Set("Content-Type", "application/vnd.elasticsearch+json;compatible-with=8")
	} else {
		h.Set("Content-Type", "application/json")
	}
	var b []byte
	if _, pretty := rq.q["pretty"]; pretty {
		b, _ = json.MarshalIndent(v, "", "  ")
		b = append(b, '\n')
	} else {
		b, _ = json.Marshal(v)
	}
	h.Set("Content-Length", strconv.Itoa(len(b)))
	rq.w.WriteHeader(status)
	rq.status = status
	if rq.r.Method != http.MethodHead {
		_, _ = rq.w.Write(b)
	}
}

func (rq *request) fail(err error) {
	e := asESError(err)
	rq.json(e.Status, e.body())
}

// simpleError is the answer Elasticsearch gives before routing: a string.
func (rq *request) simpleError(status int, msg string) {
	rq.json(status, map[string]any{"error": msg, "status": status})
}

func (rq *request) object() (map[string]any, error) {
	if len(bytes.TrimSpace(rq.body)) == 0 {
		return map[string]any{}, nil
	}
	m, err := decodeObject(rq.body)
	if err != nil {
		return nil, errf(http.StatusBadRequest, "x_content_parse_exception", "[1:1] Unexpected character or malformed JSON: %v", err)
	}
	return m, nil
}

func (rq *request) requireBody() (map[string]any, error) {
	if len(bytes.TrimSpace(rq.body)) == 0 {
		return nil, errf(http.StatusBadRequest, "parse_exception", "request body is required")
	}
	return rq.object()
}

// compatVersion reads compatible-with=N from a media type.
func compatVersion(h string) (string, bool, error) {
	if h == "" {
		return "", false, nil
	}
	mt, params, err := mime.ParseMediaType(h)
	if err != nil {
		return "", false, err
	}
	v, ok := params["compatible-with"]
	if ok && !strings.HasPrefix(mt, "application/vnd.elasticsearch+") {
		return "", false, fmt.Errorf("compatible-with on %s", mt)
	}
	return v, ok, nil
}

var allowedBodyTypes = map[string]bool{
	"application/json": true, "application/x-ndjson": true,
	"application/vnd.elasticsearch+json": true, "application/vnd.elasticsearch+x-ndjson": true,
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	rq := &request{w: w, r: r, q: r.URL.Query()}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p))
			rq.fail(errf(http.StatusInternalServerError, "exception", "internal error: %v", p))
		}
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rq.status, "took", time.Since(start))
	}()

	accept, acceptCompat, err1 := compatVersion(r.Header.Get("Accept"))
	ctype := r.Header.Get("Content-Type")
	content, contentCompat, err2 := compatVersion(ctype)
	if err1 != nil || err2 != nil || acceptCompat && accept != "7" && accept != "8" || contentCompat && content != "7" && content != "8" {
		rq.fail(errf(http.StatusBadRequest, "media_type_header_exception", "Invalid media-type value on headers [Accept, Content-Type]"))
		return
	}
	if acceptCompat && contentCompat && accept != content || acceptCompat != contentCompat && ctype != "" && r.ContentLength != 0 {
		rq.fail(errf(http.StatusBadRequest, "status_exception", "A compatible version is required on both Content-Type and Accept headers if either one has requested a compatible version and the compatible versions must match. Accept=%s, Content-Type=%s", r.Header.Get("Accept"), ctype))
		return
	}
	rq.compat = acceptCompat

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxContentLength))
	if err != nil {
		rq.simpleError(http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	rq.body = body
	if len(body) > 0 {
		if ctype == "" {
			rq.simpleError(http.StatusNotAcceptable, "Content-Type header is missing")
			return
		}
		mt, _, err := mime.ParseMediaType(ctype)
		if err != nil || !allowedBodyTypes[mt] {
			rq.simpleError(http.StatusNotAcceptable, fmt.Sprintf("Content-Type header [%s] is not supported", ctype))
			return
		}
	}
	// As Elasticsearch does, the path is split before its parts are
	// decoded: a document id may hold a slash, sent as %2F.
	path := strings.Trim(r.URL.EscapedPath(), "/")
	if path != "" {
		for _, part := range strings.Split(path, "/") {
			if dec, err := url.PathUnescape(part); err == nil {
				part = dec
			}
			rq.parts = append(rq.parts, part)
		}
	}
	s.route(rq)
}

// methods checks the method; a known path with another method is 405.
func (s *Server) methods(rq *request, allowed ...string) bool {
	if slices.Contains(allowed, rq.r.Method) {
		return true
	}
	rq.simpleError(http.StatusMethodNotAllowed, fmt.Sprintf("Incorrect HTTP method for uri [%s] and method [%s], allowed: [%s]", rq.r.URL.RequestURI(), rq.r.Method, strings.Join(allowed, ", ")))
	return false
}

const (
	get  = http.MethodGet
	head = http.MethodHead
	put  = http.MethodPut
	post = http.MethodPost
	del  = http.MethodDelete
)

// knownEndpoints are Elasticsearch APIs the stand-in does not implement:
// they are refused as unsupported (and logged), not as unknown.
var knownEndpoints = map[string]bool{
	"_mget": true, "_msearch": true, "_aliases": true, "_alias": true, "_reindex": true, "_stats": true,
	"_component_template": true, "_template": true, "_data_stream": true, "_snapshot": true, "_tasks": true,
	"_nodes": true, "_security": true, "_license": true, "_xpack": true, "_ingest": true, "_scripts": true,
	"_update_by_query": true, "_pit": true, "_field_caps": true, "_analyze": true, "_sql": true, "_async_search": true,
	"_transform": true, "_ml": true, "_ccr": true, "_rollup": true, "_slm": true, "_watcher": true, "_features": true,
	"_migration": true, "_query": true, "_enrich": true, "_eql": true, "_graph": true, "_open": true, "_close": true,
	"_forcemerge": true, "_flush": true, "_shrink": true, "_split": true, "_clone": true, "_rollover": true,
	"_validate": true, "_explain": true, "_termvectors": true, "_mtermvectors": true, "_search_shards": true,
	"_cache": true, "_segments": true, "_recovery": true, "_shard_stores": true, "_resolve": true, "_terms_enum": true,
	"_knn_search": true, "_render": true, "_rank_eval": true, "_disk_usage": true, "_field_usage_stats": true,
	"_health_report": true, "_remote": true, "_connector": true, "_inference": true, "_query_rules": true,
	"_synonyms": true, "_application": true, "_text_structure": true, "_logstash": true, "_monitoring": true,
	"_fleet": true, "_autoscaling": true, "_dangling": true, "_msearch_template": true, "_search_template": true,
	"_mvt": true, "_scroll": true, "_block": true, "_unfreeze": true, "_upgrade": true, "_cluster": true, "_cat": true,
	"_ilm": true, "_update": true,
}

// indicesAPI is an endpoint served at the root for all indices and under an
// index expression for those it names.
type indicesAPI struct {
	methods []string
	serve   func(s *Server, rq *request, idx string)
}

var indicesAPIs = map[string]indicesAPI{
	"_bulk":    {[]string{post, put}, (*Server).bulk},
	"_search":  {[]string{get, post}, (*Server).search},
	"_count":   {[]string{get, post}, (*Server).count},
	"_refresh": {[]string{get, post}, (*Server).refresh},
}

func (s *Server) route(rq *request) {
	p := rq.parts
	switch {
	case len(p) == 0:
		if s.methods(rq, get, head) {
			s.info(rq)
		}
		return
	case p[0] == "_cluster" && len(p) >= 2 && p[1] == "health" && len(p) <= 3:
		if s.methods(rq, get) {
			idx := ""
			if len(p) == 3 {
				idx = p[2]
			}
			s.health(rq, idx)
		}
		return
	case p[0] == "_cat" && len(p) >= 2 && (p[1] == "indices" && len(p) <= 3 || p[1] == "health" && len(p) == 2):
		if s.methods(rq, get) {
			idx := ""
			if len(p) == 3 {
				idx = p[2]
			}
			s.cat(rq, p[1], idx)
		}
		return
	case p[0] == "_index_template" && len(p) <= 2:
		s.indexTemplate(rq)
		return
	case p[0] == "_ilm" && len(p) >= 2 && (p[1] == "policy" && len(p) <= 3 || p[1] == "status" && len(p) == 2):
		s.ilm(rq)
		return
	case len(p) == 1 && indicesAPIs[p[0]].serve != nil:
		if api := indicesAPIs[p[0]]; s.methods(rq, api.methods...) {
			api.serve(s, rq, "")
		}
		return
	case p[0] == "_mapping" && len(p) == 1:
		if s.methods(rq, get) {
			s.getMapping(rq, "")
		}
		return
	case p[0] == "_settings" && len(p) == 1:
		if s.methods(rq, get) {
			s.getSettings(rq, "")
		}
		return
	case strings.HasPrefix(p[0], "_"):
		s.unhandled(rq)
		return
	}
	idx := p[0]
	if len(p) == 1 {
		switch rq.r.Method {
		case put, post:
			if rq.r.Method == post {
				s.unhandled(rq)
				return
			}
			s.createIndex(rq, idx)
		case get:
			s.getIndex(rq, idx)
		case head:
			s.indexExists(rq, idx)
		case del:
			s.deleteIndex(rq, idx)
		default:
			s.methods(rq, get, head, put, del)
		}
		return
	}
	if api := indicesAPIs[p[1]]; api.serve != nil {
		if len(p) == 2 && s.methods(rq, api.methods...) {
			api.serve(s, rq, idx)
			return
		}
	}
	switch p[1] {
	case "_mapping":
		if len(p) == 2 {
			switch rq.r.Method {
			case get:
				s.getMapping(rq, idx)
			case put, post:
				s.putMapping(rq, idx)
			default:
				s.methods(rq, get, put, post)
			}
			return
		}
	case "_settings":
		if len(p) == 2 {
			switch rq.r.Method {
			case get:
				s.getSettings(rq, idx)
			case put:
				s.putSettings(rq, idx)
			default:
				s.methods(rq, get, put)
			}
			return
		}
	case "_doc":
		switch {
		case len(p) == 2 && s.methods(rq, post):
			s.indexDoc(rq, idx, "", "index")
			return
		case len(p) == 3:
			switch rq.r.Method {
			case get, head:
				s.getDoc(rq, idx, p[2], false)
			case put, post:
				op := "index"
				if rq.q.Get("op_type") == "create" {
					op = "create"
				}
				s.indexDoc(rq, idx, p[2], op)
			case del:
				s.deleteDoc(rq, idx, p[2])
			default:
				s.methods(rq, get, head, put, post, del)
			}
			return
		}
		if len(p) == 2 {
			return
		}
	case "_create":
		if len(p) == 3 && s.methods(rq, put, post) {
			s.indexDoc(rq, idx, p[2], "create")
			return
		}
	case "_update":
		if len(p) == 3 && s.methods(rq, post) {
			s.indexDoc(rq, idx, p[2], "update")
			return
		}
	case "_source":
		if len(p) == 3 && s.methods(rq, get, head) {
			s.getDoc(rq, idx, p[2], true)
			return
		}
	case "_delete_by_query":
		if len(p) == 2 && s.methods(rq, post) {
			s.deleteByQuery(rq, idx)
			return
		}
	}
	if rq.status == 0 {
		s.unhandled(rq)
	}
}

func (s *Server) unhandled(rq *request) {
	p := rq.parts
	endpoint := ""
	for _, part := range p {
		if strings.HasPrefix(part, "_") {
			endpoint = part
			break
		}
	}
	if knownEndpoints[endpoint] {
		s.log.Warn("unsupported Elasticsearch API called", "method", rq.r.Method, "path", rq.r.URL.Path)
		rq.fail(unsupported("the [%s %s] API", rq.r.Method, rq.r.URL.Path))
		return
	}
	s.log.Warn("unknown Elasticsearch endpoint called", "method", rq.r.Method, "path", rq.r.URL.Path)
	rq.fail(badRequest("no handler found for uri [%s] and method [%s]", rq.r.URL.RequestURI(), rq.r.Method))
}

// checkParams refuses URL parameters the API does not know, as
// Elasticsearch does.
func checkParams(rq *request, allowed ...string) error {
	common := []string{"pretty", "human", "error_trace", "filter_path", "format", "source", "source_content_type"}
	var bad []string
	for k := range rq.q {
		if !slices.Contains(allowed, k) && !slices.Contains(common, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	if len(bad) == 1 {
		return badRequest("request [%s] contains unrecognized parameter: [%s]", rq.r.URL.Path, bad[0])
	}
	return badRequest("request [%s] contains unrecognized parameters: [%s]", rq.r.URL.Path, strings.Join(bad, "], ["))
}

// Cluster.

func (s *Server) info(rq *request) {
	s.store.mu.RLock()
	uuid := s.store.clusterUUID
	s.store.mu.RUnlock()
	rq.json(http.StatusOK, map[string]any{
		"name":         s.cfg.NodeName,
		"cluster_name": s.cfg.ClusterName,
		"cluster_uuid": uuid,
		"version": map[string]any{
			"number": Version, "build_flavor": "default", "build_type": "docker", "build_hash": "standin",
			"build_date": "2025-09-16T22:05:19.073893347Z", "build_snapshot": false, "lucene_version": "9.12.2",
			"minimum_wire_compatibility_version": "7.17.0", "minimum_index_compatibility_version": "7.0.0",
		},
		"tagline": "You Know, for Search",
	})
}

type healthCounts struct {
	status                        string
	primaries, active, unassigned int
	perIndex                      map[string]any
}

func (s *Server) healthOf(names []string) healthCounts {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	h := healthCounts{status: "green", perIndex: map[string]any{}}
	for _, n := range names {
		ix := s.store.indices[n]
		if ix == nil {
			h.status = "red"
			continue
		}
		sh, rep := ix.shards(), ix.replicas()
		st := "green"
		if rep > 0 {
			st = "yellow"
			if h.status == "green" {
				h.status = "yellow"
			}
		}
		h.primaries += sh
		h.active += sh
		h.unassigned += sh * rep
		h.perIndex[n] = map[string]any{
			"status": st, "number_of_shards": sh, "number_of_replicas": rep, "active_primary_shards": sh,
			"active_shards": sh, "relocating_shards": 0, "initializing_shards": 0, "unassigned_shards": sh * rep,
			"unassigned_primary_shards": 0,
		}
	}
	return h
}

var healthRank = map[string]int{"green": 0, "yellow": 1, "red": 2}

func (s *Server) health(rq *request, idx string) {
	if err := checkParams(rq, "wait_for_status", "timeout", "local", "level", "master_timeout", "wait_for_nodes",
		"wait_for_events", "wait_for_no_relocating_shards", "wait_for_no_initializing_shards", "wait_for_active_shards",
		"expand_wildcards"); err != nil {
		rq.fail(err)
		return
	}
	want := rq.q.Get("wait_for_status")
	if want != "" && healthRank[want] == 0 && want != "green" {
		rq.fail(badRequest("unknown cluster health status [%s]", want))
		return
	}
	timeout := 30 * time.Second
	if t := rq.q.Get("timeout"); t != "" {
		d, err := parseDuration(t)
		if err != nil {
			rq.fail(badRequest("%v", err))
			return
		}
		timeout = d
	}
	names := func() []string {
		s.store.mu.RLock()
		defer s.store.mu.RUnlock()
		if idx == "" {
			return sortedKeys(s.store.indices)
		}
		var out []string
		for _, part := range strings.Split(idx, ",") {
			if strings.Contains(part, "*") {
				for n := range s.store.indices {
					if globMatch(part, n) {
						out = append(out, n)
					}
				}
			} else {
				out = append(out, part)
			}
		}
		return out
	}
	deadline := time.Now().Add(timeout)
	h := s.healthOf(names())
	timedOut := false
	for want != "" && healthRank[h.status] > healthRank[want] {
		if time.Now().After(deadline) {
			timedOut = true
			break
		}
		select {
		case <-rq.r.Context().Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
		h = s.healthOf(names())
	}
	if h.status == "red" && idx != "" {
		timedOut = true // Elasticsearch waits for a missing index, then gives up
	}
	pct := 100.0
	if t := h.active + h.unassigned; t > 0 {
		pct = float64(h.active) / float64(t) * 100
	}
	body := map[string]any{
		"cluster_name": s.cfg.ClusterName, "status": h.status, "timed_out": timedOut,
		"number_of_nodes": 1, "number_of_data_nodes": 1, "active_primary_shards": h.primaries,
		"active_shards": h.active, "relocating_shards": 0, "initializing_shards": 0,
		"unassigned_shards": h.unassigned, "unassigned_primary_shards": 0, "delayed_unassigned_shards": 0,
		"number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0, "task_max_waiting_in_queue_millis": 0,
		"active_shards_percent_as_number": pct,
	}
	if l := rq.q.Get("level"); l == "indices" || l == "shards" {
		body["indices"] = h.perIndex
	}
	status := http.StatusOK
	if timedOut {
		status = http.StatusRequestTimeout
	}
	rq.json(status, body)
}

func (s *Server) cat(rq *request, what, idx string) {
	if err := checkParams(rq, "v", "h", "s", "bytes", "health", "pri", "local", "master_timeout", "expand_wildcards", "time", "include_unloaded_segments", "ts"); err != nil {
		rq.fail(err)
		return
	}
	var header []string
	var rows [][]string
	if what == "health" {
		h := s.healthOf(s.indexNames())
		now := time.Now()
		pct := "100.0%"
		if t := h.active + h.unassigned; t > 0 {
			pct = fmt.Sprintf("%.1f%%", float64(h.active)/float64(t)*100)
		}
		header = []string{"epoch", "timestamp", "cluster", "status", "node.total", "node.data", "shards", "pri", "relo", "init", "unassign", "unassign.pri", "pending_tasks", "max_task_wait_time", "active_shards_percent"}
		rows = [][]string{{strconv.FormatInt(now.Unix(), 10), now.UTC().Format("15:04:05"), s.cfg.ClusterName, h.status, "1", "1",
			strconv.Itoa(h.active), strconv.Itoa(h.primaries), "0", "0", strconv.Itoa(h.unassigned), "0", "0", "-", pct}}
	} else {
		views, err := s.store.resolve(idx, false, true)
		if err != nil {
			rq.fail(err)
			return
		}
		header = []string{"health", "status", "index", "uuid", "pri", "rep", "docs.count", "docs.deleted", "store.size", "pri.store.size", "dataset.size"}
		for _, v := range views {
			st := "green"
			if v.replicas > 0 {
				st = "yellow"
			}
			size := 0
			for _, d := range v.docs {
				size += len(d.source)
			}
			sz := fmt.Sprintf("%db", size)
			rows = append(rows, []string{st, "open", v.name, v.uuid, strconv.Itoa(v.shards), strconv.Itoa(v.replicas),
				strconv.Itoa(len(v.docs)), "0", sz, sz, sz})
		}
	}
	if rq.q.Get("format") == "json" {
		out := make([]map[string]string, 0, len(rows))
		for _, r := range rows {
			m := map[string]string{}
			for i, h := range header {
				m[h] = r[i]
			}
			out = append(out, m)
		}
		rq.json(http.StatusOK, out)
		return
	}
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', 0)
	if _, v := rq.q["v"]; v {
		fmt.Fprintln(tw, strings.Join(header, "\t"))
	}
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	_ = tw.Flush()
	rq.w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	rq.w.WriteHeader(http.StatusOK)
	rq.status = http.StatusOK
	if rq.r.Method != head {
		_, _ = rq.w.Write(b.Bytes())
	}
}

func (s *Server) indexNames() []string {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	return sortedKeys(s.store.indices)
}

// Templates and ILM.

func (s *Server) indexTemplate(rq *request) {
	name := ""
	if len(rq.parts) == 2 {
		name = rq.parts[1]
	}
	serveNamed(s, rq, name, indexTemplates)
}

func (s *Server) ilm(rq *request) {
	if rq.parts[1] == "status" {
		if s.methods(rq, get) {
			rq.json(http.StatusOK, map[string]any{"operation_mode": "RUNNING"})
		}
		return
	}
	name := ""
	if len(rq.parts) == 3 {
		name = rq.parts[2]
	}
	serveNamed(s, rq, name, lifecyclePolicies)
}

// Documents.

func refreshParam(q url.Values) (bool, error) {
	v, ok := q["refresh"]
	if !ok {
		return false, nil
	}
	switch v[0] {
	case "", "true", "wait_for":
		return true, nil
	case "false":
		return false, nil
	}
	return false, badRequest("Unknown value for refresh: [%s].", v[0])
}

var bulkMetaKeys = map[string]bool{
	"_index": true, "_id": true, "if_seq_no": true, "if_primary_term": true, "version": true, "version_type": true,
	"routing": true, "retry_on_conflict": true, "op_type": true, "dynamic_templates": true, "_source": true,
}

func (s *Server) bulk(rq *request, defIndex string) {
	if err := checkParams(rq, "refresh", "routing", "timeout", "wait_for_active_shards", "require_alias",
		"require_data_stream", "_source", "_source_includes", "_source_excludes", "list_executed_pipelines"); err != nil {
		rq.fail(err)
		return
	}
	refresh, err := refreshParam(rq.q)
	if err != nil {
		rq.fail(err)
		return
	}
	if len(bytes.TrimSpace(rq.body)) == 0 {
		rq.fail(errf(http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: no requests added;"))
		return
	}
	if !bytes.HasSuffix(rq.body, []byte("\n")) {
		rq.fail(badRequest("The bulk request must be terminated by a newline [\\n]"))
		return
	}
	lines := bytes.Split(rq.body[:len(rq.body)-1], []byte("\n"))
	var ops []writeOp
	var actions []string
	for i := 0; i < len(lines); i++ {
		line := bytes.TrimSpace(lines[i])
		if len(line) == 0 {
			continue
		}
		meta, err := decodeObject(line)
		if err != nil || len(meta) != 1 {
			rq.fail(badRequest("Malformed action/metadata line [%d], expected START_OBJECT or END_OBJECT but found [%s]", i+1, firstToken(line)))
			return
		}
		var action string
		var params map[string]any
		for k, v := range meta {
			action = k
			params, _ = v.(map[string]any)
		}
		switch action {
		case "index", "create", "update", "delete":
		default:
			rq.fail(badRequest("Malformed action/metadata line [%d], expected field [create], [delete], [index] or [update] but found [%s]", i+1, action))
			return
		}
		op := writeOp{action: action, index: defIndex}
		for k, v := range params {
			if !bulkMetaKeys[k] {
				if k == "pipeline" || k == "require_alias" {
					rq.fail(unsupported("bulk action parameter [%s]", k))
					return
				}
				rq.fail(badRequest("Action/metadata line [%d] contains an unknown parameter [%s]", i+1, k))
				return
			}
			sv, _ := scalarText(v)
			switch k {
			case "_index":
				op.index = sv
			case "_id":
				op.id = sv
			case "if_seq_no":
				n, _ := strconv.ParseInt(sv, 10, 64)
				op.ifSeqNo = &n
			case "if_primary_term":
				n, _ := strconv.ParseInt(sv, 10, 64)
				op.ifTerm = &n
			case "version":
				n, _ := strconv.ParseInt(sv, 10, 64)
				op.version = &n
			case "version_type":
				op.versionType = sv
			case "op_type":
				if sv == "create" && action == "index" {
					op.action = "create"
				}
			}
		}
		if op.index == "" {
			rq.fail(errf(http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: index is missing;"))
			return
		}
		if action != "delete" {
			i++
			if i >= len(lines) {
				rq.fail(badRequest("The bulk request must be terminated by a newline [\\n]"))
				return
			}
			op.source = lines[i]
		}
		ops = append(ops, op)
		actions = append(actions, op.action)
	}
	if len(ops) == 0 {
		rq.fail(errf(http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: no requests added;"))
		return
	}
	start := time.Now()
	results, err := s.store.Write(ops, refresh)
	if err != nil {
		rq.fail(err)
		return
	}
	items := make([]any, len(results))
	errorsFlag := false
	for i, r := range results {
		if _, failed := r.body["error"]; failed {
			errorsFlag = true
		}
		items[i] = map[string]any{actions[i]: r.body}
	}
	rq.json(http.StatusOK, map[string]any{"errors": errorsFlag, "took": time.Since(start).Milliseconds(), "items": items})
}

func firstToken(line []byte) string {
	t := bytes.TrimSpace(line)
	switch {
	case len(t) == 0:
		return "null"
	case t[0] == '[':
		return "START_ARRAY"
	case t[0] == '"':
		return "VALUE_STRING"
	}
	return "VALUE_NUMBER"
}

func (s *Server) indexDoc(rq *request, idx, id, action string) {
	if err := checkParams(rq, "refresh", "routing", "timeout", "wait_for_active_shards", "op_type", "if_seq_no",
		"if_primary_term", "version", "version_type", "require_alias", "require_data_stream", "retry_on_conflict",
		"_source", "_source_includes", "_source_excludes", "include_source_on_error"); err != nil {
		rq.fail(err)
		return
	}
	if rq.q.Get("pipeline") != "" {
		rq.fail(unsupported("ingest pipelines"))
		return
	}
	refresh, err := refreshParam(rq.q)
	if err != nil {
		rq.fail(err)
		return
	}
	if len(bytes.TrimSpace(rq.body)) == 0 {
		rq.fail(errf(http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: source is missing;2: content type is missing;"))
		return
	}
	op := writeOp{action: action, index: idx, id: id, source: rq.body}
	for _, k := range []string{"if_seq_no", "if_primary_term", "version"} {
		if v := rq.q.Get(k); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				rq.fail(badRequest("Failed to parse long parameter [%s] with value [%s]", k, v))
				return
			}
			switch k {
			case "if_seq_no":
				op.ifSeqNo = &n
			case "if_primary_term":
				op.ifTerm = &n
			default:
				op.version = &n
			}
		}
	}
	op.versionType = rq.q.Get("version_type")
	results, err := s.store.Write([]writeOp{op}, refresh)
	if err != nil {
		rq.fail(err)
		return
	}
	res := results[0]
	if e, failed := res.body["error"]; failed {
		rq.json(res.status, map[string]any{"error": withRootCause(e), "status": res.status})
		return
	}
	delete(res.body, "status")
	rq.json(res.status, res.body)
}

func withRootCause(e any) any {
	m, ok := e.(map[string]any)
	if !ok {
		return e
	}
	root := map[string]any{}
	for k, v := range m {
		if k != "caused_by" {
			root[k] = v
		}
	}
	out := map[string]any{"root_cause": []any{root}}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (s *Server) deleteDoc(rq *request, idx, id string) {
	if err := checkParams(rq, "refresh", "routing", "timeout", "wait_for_active_shards", "if_seq_no", "if_primary_term", "version", "version_type"); err != nil {
		rq.fail(err)
		return
	}
	refresh, err := refreshParam(rq.q)
	if err != nil {
		rq.fail(err)
		return
	}
	s.store.mu.RLock()
	exists := s.store.indices[idx] != nil
	s.store.mu.RUnlock()
	if !exists {
		rq.fail(indexNotFound(idx))
		return
	}
	results, err := s.store.Write([]writeOp{{action: "delete", index: idx, id: id}}, refresh)
	if err != nil {
		rq.fail(err)
		return
	}
	res := results[0]
	delete(res.body, "status")
	rq.json(res.status, res.body)
}

func (s *Server) getDoc(rq *request, idx, id string, sourceOnly bool) {
	if err := checkParams(rq, "realtime", "refresh", "routing", "preference", "stored_fields", "_source",
		"_source_includes", "_source_excludes", "version", "version_type"); err != nil {
		rq.fail(err)
		return
	}
	doc, ix, err := s.store.Get(idx, id)
	if err != nil {
		rq.fail(err)
		return
	}
	if doc == nil {
		if sourceOnly {
			rq.fail(errf(http.StatusNotFound, "resource_not_found_exception", "Document not found [%s]/[%s]", idx, id))
			return
		}
		rq.json(http.StatusNotFound, map[string]any{"_index": ix.name, "_id": id, "found": false})
		return
	}
	sf := sourceFilter{}
	if v, ok := rq.q["_source"]; ok {
		switch v[0] {
		case "false":
			sf.disabled = true
		case "true", "":
		default:
			sf.includes = strings.Split(v[0], ",")
		}
	}
	if v := rq.q.Get("_source_includes"); v != "" {
		sf.includes = strings.Split(v, ",")
	}
	if v := rq.q.Get("_source_excludes"); v != "" {
		sf.excludes = strings.Split(v, ",")
	}
	if sourceOnly {
		rq.json(http.StatusOK, filterSource(doc.source, sf))
		return
	}
	body := map[string]any{"_index": ix.name, "_id": id, "_version": doc.version, "_seq_no": doc.seqNo, "_primary_term": 1, "found": true}
	if !sf.disabled {
		body["_source"] = filterSource(doc.source, sf)
	}
	rq.json(http.StatusOK, body)
}

// Search.

func (s *Server) search(rq *request, idx string) {
	if err := checkParams(rq, "typed_keys", "ignore_unavailable", "allow_no_indices", "expand_wildcards", "size", "from",
		"sort", "q", "df", "default_operator", "lenient", "analyzer", "analyze_wildcard", "track_total_hits",
		"_source", "_source_includes", "_source_excludes", "rest_total_hits_as_int", "search_type", "request_cache",
		"preference", "routing", "timeout", "batched_reduce_size", "max_concurrent_shard_requests", "pre_filter_shard_size",
		"allow_partial_search_results", "ccs_minimize_roundtrips", "track_scores", "version", "seq_no_primary_term",
		"explain", "stats", "terminate_after", "ignore_throttled", "scroll", "include_named_queries_score"); err != nil {
		rq.fail(err)
		return
	}
	if rq.q.Get("scroll") != "" {
		rq.fail(unsupported("scroll searches"))
		return
	}
	body, err := rq.object()
	if err != nil {
		rq.fail(err)
		return
	}
	r, err := parseSearch(body, rq.q)
	if err != nil {
		rq.fail(err)
		return
	}
	if r.aggs != nil {
		if _, err := parseAggs(r.aggs); err != nil {
			rq.fail(err)
			return
		}
	}
	views, err := s.store.resolve(idx, r.ignoreUnavail, r.allowNoIdx)
	if err != nil {
		rq.fail(err)
		return
	}
	res, err := execute(views, r, time.Now())
	if err != nil {
		rq.fail(err)
		return
	}
	rq.json(http.StatusOK, renderSearch(res, r))
}

func (s *Server) count(rq *request, idx string) {
	if err := checkParams(rq, "ignore_unavailable", "allow_no_indices", "expand_wildcards", "q", "df", "default_operator",
		"lenient", "analyzer", "analyze_wildcard", "min_score", "preference", "routing", "terminate_after", "ignore_throttled"); err != nil {
		rq.fail(err)
		return
	}
	body, err := rq.object()
	if err != nil {
		rq.fail(err)
		return
	}
	for k := range body {
		if k != "query" {
			rq.fail(parsingError("request does not support [%s]", k))
			return
		}
	}
	q := url.Values{}
	for _, k := range []string{"ignore_unavailable", "allow_no_indices", "q", "df", "default_operator", "lenient"} {
		if v, ok := rq.q[k]; ok {
			q[k] = v
		}
	}
	r, err := parseSearch(body, q)
	if err != nil {
		rq.fail(err)
		return
	}
	r.size, r.trackTotal = 0, math.MaxInt
	views, err := s.store.resolve(idx, r.ignoreUnavail, r.allowNoIdx)
	if err != nil {
		rq.fail(err)
		return
	}
	res, err := execute(views, r, time.Now())
	if err != nil {
		rq.fail(err)
		return
	}
	rq.json(http.StatusOK, map[string]any{"count": res.total, "_shards": shardsHeader(res.shards, res.failures)})
}

func (s *Server) deleteByQuery(rq *request, idx string) {
	if err := checkParams(rq, "refresh", "conflicts", "ignore_unavailable", "allow_no_indices", "expand_wildcards", "q",
		"df", "default_operator", "lenient", "routing", "scroll_size", "slices", "timeout", "wait_for_completion",
		"wait_for_active_shards", "requests_per_second", "max_docs"); err != nil {
		rq.fail(err)
		return
	}
	if rq.q.Get("wait_for_completion") == "false" {
		rq.fail(unsupported("asynchronous delete by query (wait_for_completion=false)"))
		return
	}
	body, err := rq.object()
	if err != nil {
		rq.fail(err)
		return
	}
	if _, ok := body["query"]; !ok && rq.q.Get("q") == "" {
		rq.fail(errf(http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: query is missing;"))
		return
	}
	q := url.Values{}
	for _, k := range []string{"ignore_unavailable", "allow_no_indices", "q", "df", "default_operator", "lenient"} {
		if v, ok := rq.q[k]; ok {
			q[k] = v
		}
	}
	r, err := parseSearch(map[string]any{"query": body["query"]}, q)
	if err != nil {
		rq.fail(err)
		return
	}
	r.size = 0
	views, err := s.store.resolve(idx, r.ignoreUnavail, r.allowNoIdx)
	if err != nil {
		rq.fail(err)
		return
	}
	for i := range views {
		views[i].maxWin = math.MaxInt
	}
	start := time.Now()
	res, err := execute(views, r, start)
	if err != nil {
		rq.fail(err)
		return
	}
	var ops []writeOp
	for _, h := range res.hits {
		seq, term := h.doc.seqNo, int64(1)
		ops = append(ops, writeOp{action: "delete", index: h.v.name, id: h.doc.id, ifSeqNo: &seq, ifTerm: &term})
	}
	refresh, _ := refreshParam(rq.q)
	results, err := s.store.Write(ops, refresh)
	if err != nil {
		rq.fail(err)
		return
	}
	deleted, conflicts := 0, 0
	var failures []any
	for _, r := range results {
		switch {
		case r.status == http.StatusOK:
			deleted++
		case r.status == http.StatusConflict:
			conflicts++
			if rq.q.Get("conflicts") != "proceed" {
				failures = append(failures, map[string]any{"index": r.body["_index"], "id": r.body["_id"], "cause": r.body["error"], "status": 409})
			}
		}
	}
	if failures == nil {
		failures = []any{}
	}
	status := http.StatusOK
	if len(failures) > 0 {
		status = http.StatusConflict
	}
	rq.json(status, map[string]any{
		"took": time.Since(start).Milliseconds(), "timed_out": false, "total": len(res.hits), "deleted": deleted,
		"batches": map[bool]int{true: 1, false: 0}[len(ops) > 0], "version_conflicts": conflicts, "noops": 0,
		"retries": map[string]int{"bulk": 0, "search": 0}, "throttled_millis": 0, "requests_per_second": -1.0,
		"throttled_until_millis": 0, "failures": failures,
	})
}

func (s *Server) refresh(rq *request, idx string) {
	if err := checkParams(rq, "ignore_unavailable", "allow_no_indices", "expand_wildcards"); err != nil {
		rq.fail(err)
		return
	}
	ignore, _ := boolParam(rq.q, "ignore_unavailable", false)
	allow, _ := boolParam(rq.q, "allow_no_indices", true)
	views, err := s.store.resolve(idx, ignore, allow)
	if err != nil {
		rq.fail(err)
		return
	}
	var names []string
	total := 0
	for _, v := range views {
		names = append(names, v.name)
		total += v.shards * (1 + v.replicas)
	}
	s.store.refreshIndices(names)
	ok := 0
	for _, v := range views {
		ok += v.shards
	}
	rq.json(http.StatusOK, map[string]any{"_shards": map[string]int{"total": total, "successful": ok, "failed": 0}})
}

// Indices.

func (s *Server) createIndex(rq *request, idx string) {
	if err := checkParams(rq, "wait_for_active_shards", "timeout", "master_timeout"); err != nil {
		rq.fail(err)
		return
	}
	body, err := rq.object()
	if err != nil {
		rq.fail(err)
		return
	}
	if _, err := s.store.CreateIndex(idx, body); err != nil {
		rq.fail(err)
		return
	}
	rq.json(http.StatusOK, map[string]any{"acknowledged": true, "shards_acknowledged": true, "index": idx})
}

func (s *Server) indexExists(rq *request, idx string) {
	views, err := s.store.resolve(idx, false, false)
	if err != nil || len(views) == 0 {
		rq.w.WriteHeader(http.StatusNotFound)
		rq.status = http.StatusNotFound
		return
	}
	rq.w.WriteHeader(http.StatusOK)
	rq.status = http.StatusOK
}

func renderSettings(ix *index) map[string]any {
	flat := maps(ix.settings)
	flat["index.uuid"] = ix.uuid
	flat["index.creation_date"] = strconv.FormatInt(ix.created, 10)
	flat["index.provided_name"] = ix.name
	flat["index.version.created"] = "8536000"
	flat["index.routing.allocation.include._tier_preference"] = "data_content"
	return nestSettings(flat)
}

func (s *Server) getIndex(rq *request, idx string) {
	ignore, _ := boolParam(rq.q, "ignore_unavailable", false)
	allow, _ := boolParam(rq.q, "allow_no_indices", true)
	s.perIndex(rq, idx, ignore, allow, func(v view) any {
		return map[string]any{"aliases": map[string]any{}, "mappings": v.m.render(), "settings": v.settings}
	})
}

// perIndex answers with one object for each index the expression names.
func (s *Server) perIndex(rq *request, idx string, ignore, allow bool, render func(view) any) {
	views, err := s.store.resolve(idx, ignore, allow)
	if err != nil {
		rq.fail(err)
		return
	}
	out := map[string]any{}
	for _, v := range views {
		out[v.name] = render(v)
	}
	rq.json(http.StatusOK, out)
}

// indexNamesOf resolves an index expression to the names of its indices.
func (s *Server) indexNamesOf(idx string, ignore, allow bool) ([]string, error) {
	views, err := s.store.resolve(idx, ignore, allow)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, v := range views {
		names = append(names, v.name)
	}
	return names, nil
}

func (s *Server) deleteIndex(rq *request, idx string) {
	if err := checkParams(rq, "ignore_unavailable", "allow_no_indices", "expand_wildcards", "timeout", "master_timeout"); err != nil {
		rq.fail(err)
		return
	}
	if idx == "_all" || strings.Contains(idx, "*") {
		rq.fail(badRequest("Wildcard expressions or all indices are not allowed"))
		return
	}
	ignore, _ := boolParam(rq.q, "ignore_unavailable", false)
	names, err := s.indexNamesOf(idx, ignore, true)
	if err != nil {
		rq.fail(err)
		return
	}
	if err := s.store.DeleteIndices(names); err != nil {
		rq.fail(err)
		return
	}
	rq.json(http.StatusOK, map[string]any{"acknowledged": true})
}

func (s *Server) getMapping(rq *request, idx string) {
	s.perIndex(rq, idx, false, true, func(v view) any { return map[string]any{"mappings": v.m.render()} })
}

func (s *Server) putMapping(rq *request, idx string) {
	body, err := rq.requireBody()
	if err != nil {
		rq.fail(err)
		return
	}
	s.updateIndices(rq, idx, body, s.store.PutMapping)
}

func (s *Server) getSettings(rq *request, idx string) {
	s.perIndex(rq, idx, false, true, func(v view) any { return map[string]any{"settings": v.settings} })
}

func (s *Server) putSettings(rq *request, idx string) {
	body, err := rq.requireBody()
	if err != nil {
		rq.fail(err)
		return
	}
	if inner, ok := body["settings"].(map[string]any); ok && len(body) == 1 {
		body = inner
	}
	s.updateIndices(rq, idx, body, s.store.PutSettings)
}

// updateIndices applies the body to each existing index the expression
// names and acknowledges.
func (s *Server) updateIndices(rq *request, idx string, body map[string]any, apply func([]string, map[string]any) error) {
	names, err := s.indexNamesOf(idx, false, false)
	if err != nil {
		rq.fail(err)
		return
	}
	if err := apply(names, body); err != nil {
		rq.fail(err)
		return
	}
	rq.json(http.StatusOK, map[string]any{"acknowledged": true})
}
