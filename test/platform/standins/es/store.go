package es

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chatcluster/chatcluster/test/platform/standins"
)

// nodeID names the one node in shard failures and node listings.
const nodeID = "standin-node-0"

// document is one stored document. Documents are never modified: a write
// replaces the pointer, so a refreshed view can be read without the lock.
type document struct {
	id      string
	source  json.RawMessage
	version int64
	seqNo   int64
	fields  map[string]*values
}

// index is one index: its documents, the view searches see (as of the last
// refresh), its mappings and settings.
type index struct {
	name     string
	uuid     string
	created  int64
	settings map[string]string // flat, "index.number_of_replicas" → "1"
	mapping  *mapping          // replaced, never modified, once published
	docs     map[string]*document
	nextSeq  int64

	visible     []*document // the refreshed view, in seq_no order
	dirty       bool
	lastRefresh time.Time
}

func (ix *index) setting(name, def string) string {
	if v, ok := ix.settings["index."+name]; ok {
		return v
	}
	return def
}

func (ix *index) refreshInterval() time.Duration {
	d, err := parseDuration(ix.setting("refresh_interval", "1s"))
	if err != nil {
		return time.Second
	}
	return d
}

func (ix *index) replicas() int {
	if ae := ix.setting("auto_expand_replicas", "false"); ae != "false" {
		return 0 // one node: every range starting at 0 expands to 0 replicas
	}
	n, _ := strconv.Atoi(ix.setting("number_of_replicas", "1"))
	return n
}

func (ix *index) shards() int {
	n, _ := strconv.Atoi(ix.setting("number_of_shards", "1"))
	if n < 1 {
		n = 1
	}
	return n
}

func (ix *index) refresh(now time.Time) {
	docs := make([]*document, 0, len(ix.docs))
	for _, d := range ix.docs {
		docs = append(docs, d)
	}
	sort.Slice(docs, func(i, j int) bool { return docs[i].seqNo < docs[j].seqNo })
	ix.visible = docs
	ix.dirty = false
	ix.lastRefresh = now
}

// indexTemplate is a composable index template.
type indexTemplate struct {
	name     string
	patterns []string
	priority int64
	body     map[string]any // as shown by GET
	settings map[string]string
	mappings map[string]any
}

type ilmPolicy struct {
	Version  int64          `json:"version"`
	Modified string         `json:"modified_date"`
	Policy   map[string]any `json:"policy"`
}

// Store is the node's state and its write-ahead log.
type Store struct {
	mu          sync.RWMutex
	dir         string
	file        *os.File
	lock        *os.File
	pending     bytes.Buffer
	clusterUUID string
	indices     map[string]*index
	templates   map[string]*indexTemplate
	policies    map[string]*ilmPolicy
	autoCreate  string
	ilmPoll     time.Duration
	log         *slog.Logger
	now         func() time.Time

	stop chan struct{}
	done chan struct{}
}

// record is one line of the state log.
type record struct {
	Op       string            `json:"op"`
	Index    string            `json:"index,omitempty"`
	Name     string            `json:"name,omitempty"`
	ID       string            `json:"id,omitempty"`
	UUID     string            `json:"uuid,omitempty"`
	Created  int64             `json:"created,omitempty"`
	Settings map[string]string `json:"settings,omitempty"`
	Mappings map[string]any    `json:"mappings,omitempty"`
	Version  int64             `json:"v,omitempty"`
	Seq      int64             `json:"seq,omitempty"`
	Source   json.RawMessage   `json:"src,omitempty"`
	Body     json.RawMessage   `json:"body,omitempty"`
}

const stateFile = "state.jsonl"

// OpenStore takes the node lock in cfg.DataPath, replays the state log
// kept in DataPath/standin-elasticsearch, rewrites it compacted, and starts
// the periodic refresh and the lifecycle runner.
func OpenStore(cfg Config, log *slog.Logger) (*Store, error) {
	dataPath, autoCreate := cfg.DataPath, cfg.AutoCreate
	if err := os.MkdirAll(dataPath, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create data path %s: %v", dataPath, err)
	}
	lock, err := os.OpenFile(filepath.Join(dataPath, "node.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("failed to obtain node locks, tried [%s]; maybe these locations are not writable or multiple nodes were started on the same data path? (%v)", dataPath, err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("failed to obtain node locks, tried [%s]; maybe these locations are not writable or multiple nodes were started on the same data path?", dataPath)
	}
	s := &Store{
		dir: filepath.Join(dataPath, "standin-elasticsearch"), lock: lock,
		indices: map[string]*index{}, templates: map[string]*indexTemplate{}, policies: map[string]*ilmPolicy{},
		autoCreate: autoCreate, log: log, now: time.Now, ilmPoll: cfg.ILMPollInterval,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	if s.ilmPoll <= 0 {
		s.ilmPoll = 10 * time.Minute
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		_ = lock.Close()
		return nil, err
	}
	if err := s.replay(); err != nil {
		_ = lock.Close()
		return nil, err
	}
	if s.clusterUUID == "" {
		s.clusterUUID = randomID(22)
	}
	if err := s.compact(); err != nil {
		_ = lock.Close()
		return nil, err
	}
	now := s.now()
	for _, ix := range s.indices {
		ix.refresh(now)
	}
	go s.refresher()
	return s, nil
}

// Close stops the periodic refresh and closes the log.
func (s *Store) Close() error {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.file.Close()
	_ = s.lock.Close()
	return err
}

func (s *Store) replay() error {
	path := filepath.Join(s.dir, stateFile)
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var good int64
	lineNo := 0
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			if len(line) > 0 {
				s.log.Warn("cutting a torn record off the end of the state log", "bytes", len(line))
				if err := os.Truncate(path, good); err != nil {
					return err
				}
			}
			return nil
		}
		if err != nil {
			return err
		}
		lineNo++
		var rec record
		if err := json.Unmarshal(line, &rec); err != nil {
			// Only the last line can be torn; the rest were fsync'd whole.
			if _, perr := r.Peek(1); perr == io.EOF {
				s.log.Warn("cutting a torn record off the end of the state log", "line", lineNo)
				return os.Truncate(path, good)
			}
			return fmt.Errorf("state log %s: line %d is corrupt: %v", path, lineNo, err)
		}
		if err := s.apply(rec); err != nil {
			return fmt.Errorf("state log %s: line %d: %v", path, lineNo, err)
		}
		good += int64(len(line))
	}
}

// apply replays one record.
func (s *Store) apply(rec record) error {
	switch rec.Op {
	case "cluster":
		s.clusterUUID = rec.UUID
	case "create":
		m, err := parseMapping(rec.Mappings)
		if err != nil {
			return err
		}
		s.indices[rec.Index] = &index{name: rec.Index, uuid: rec.UUID, created: rec.Created, settings: rec.Settings, mapping: m, docs: map[string]*document{}}
	case "delete_index":
		delete(s.indices, rec.Index)
	case "mapping", "settings", "doc", "del":
		ix := s.indices[rec.Index]
		if ix == nil {
			return fmt.Errorf("record for unknown index %s", rec.Index)
		}
		switch rec.Op {
		case "mapping":
			m, err := parseMapping(rec.Mappings)
			if err != nil {
				return err
			}
			ix.mapping = m
		case "settings":
			ix.settings = rec.Settings
		case "doc":
			src, err := decodeObject(rec.Source)
			if err != nil {
				return err
			}
			fields, updated, err := parseDocument(ix.mapping, rec.ID, src)
			if err != nil {
				return err
			}
			if updated != nil {
				ix.mapping = updated
			}
			ix.docs[rec.ID] = &document{id: rec.ID, source: rec.Source, version: rec.Version, seqNo: rec.Seq, fields: fields}
			ix.nextSeq = max(ix.nextSeq, rec.Seq+1)
		case "del":
			delete(ix.docs, rec.ID)
			ix.nextSeq = max(ix.nextSeq, rec.Seq+1)
		}
	case "template":
		var body map[string]any
		if err := json.Unmarshal(rec.Body, &body); err != nil {
			return err
		}
		t, err := parseTemplate(rec.Name, body)
		if err != nil {
			return err
		}
		s.templates[rec.Name] = t
	case "template_delete":
		delete(s.templates, rec.Name)
	case "ilm":
		var p ilmPolicy
		if err := json.Unmarshal(rec.Body, &p); err != nil {
			return err
		}
		s.policies[rec.Name] = &p
	case "ilm_delete":
		delete(s.policies, rec.Name)
	default:
		return fmt.Errorf("unknown record %q", rec.Op)
	}
	return nil
}

// compact rewrites the log as the records of the current state.
func (s *Store) compact() error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	_ = enc.Encode(record{Op: "cluster", UUID: s.clusterUUID})
	for _, name := range sortedKeys(s.templates) {
		body, _ := json.Marshal(s.templates[name].body)
		_ = enc.Encode(record{Op: "template", Name: name, Body: body})
	}
	for _, name := range sortedKeys(s.policies) {
		body, _ := json.Marshal(s.policies[name])
		_ = enc.Encode(record{Op: "ilm", Name: name, Body: body})
	}
	for _, name := range sortedKeys(s.indices) {
		ix := s.indices[name]
		_ = enc.Encode(record{Op: "create", Index: name, UUID: ix.uuid, Created: ix.created, Settings: ix.settings, Mappings: ix.mapping.render()})
		docs := make([]*document, 0, len(ix.docs))
		for _, d := range ix.docs {
			docs = append(docs, d)
		}
		sort.Slice(docs, func(i, j int) bool { return docs[i].seqNo < docs[j].seqNo })
		for _, d := range docs {
			_ = enc.Encode(record{Op: "doc", Index: name, ID: d.id, Version: d.version, Seq: d.seqNo, Source: d.source})
		}
		if ix.nextSeq > 0 && (len(docs) == 0 || docs[len(docs)-1].seqNo < ix.nextSeq-1) {
			// keep seq_no moving forward past deleted documents
			_ = enc.Encode(record{Op: "del", Index: name, ID: "", Seq: ix.nextSeq - 1})
		}
	}
	path := filepath.Join(s.dir, stateFile)
	if err := standins.ReplaceFile(path, buf.Bytes()); err != nil {
		return err
	}
	if d, err := os.Open(s.dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	s.file = f
	return nil
}

// logRecord queues a record; commit writes the queue and fsyncs it, as
// Elasticsearch fsyncs its translog before acknowledging a request.
func (s *Store) logRecord(rec record) {
	b, _ := json.Marshal(rec)
	s.pending.Write(b)
	s.pending.WriteByte('\n')
}

func (s *Store) commit() error {
	if s.pending.Len() == 0 {
		return nil
	}
	defer s.pending.Reset()
	if _, err := s.file.Write(s.pending.Bytes()); err != nil {
		return errf(http.StatusInternalServerError, "translog_exception", "failed to write the state log: %v", err)
	}
	if err := s.file.Sync(); err != nil {
		return errf(http.StatusInternalServerError, "translog_exception", "failed to sync the state log: %v", err)
	}
	return nil
}

// refresher refreshes each index whose refresh interval has passed since
// its last refresh and that has writes to publish.
func (s *Store) refresher() {
	defer close(s.done)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	ilm := time.NewTicker(s.ilmPoll)
	defer ilm.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-ilm.C:
			s.runLifecycles()
			continue
		case <-t.C:
		}
		s.mu.Lock()
		now := s.now()
		for _, ix := range s.indices {
			if iv := ix.refreshInterval(); ix.dirty && iv >= 0 && now.Sub(ix.lastRefresh) >= iv {
				ix.refresh(now)
			}
		}
		s.mu.Unlock()
	}
}

// Refresh makes every write to the indices visible to search.
func (s *Store) refreshIndices(names []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, n := range names {
		if ix := s.indices[n]; ix != nil {
			ix.refresh(now)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

func decodeObject(b []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("trailing data after the JSON object")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("not a JSON object")
	}
	return m, nil
}

// Index names.

func validIndexName(name string) *esError {
	invalid := func(reason string) *esError {
		e := errf(http.StatusBadRequest, "invalid_index_name_exception", "Invalid index name [%s], %s", name, reason)
		return e.with("index_uuid", "_na_").with("index", name)
	}
	switch {
	case name == "." || name == "..":
		return invalid("must not be '.' or '..'")
	case strings.ToLower(name) != name:
		return invalid("must be lowercase")
	case strings.HasPrefix(name, "_") || strings.HasPrefix(name, "-") || strings.HasPrefix(name, "+"):
		return invalid("must not start with '_', '-', or '+'")
	case strings.ContainsAny(name, "\\/*?\"<>| ,#:"):
		return invalid(`must not contain the following characters [ , ", *, \, <, |, ,, >, /, ?, :, #]`)
	case len(name) > 255:
		return invalid("index name is too long, (" + strconv.Itoa(len(name)) + " > 255)")
	}
	return nil
}

// globMatch matches Elasticsearch's simple wildcard patterns (only '*').
func globMatch(pattern, s string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == s
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(s, p)
		}
		j := strings.Index(s, p)
		if j < 0 {
			return false
		}
		s = s[j+len(p):]
	}
	return true
}

// autoCreateAllowed applies action.auto_create_index.
func (s *Store) autoCreateAllowed(name string) bool {
	switch s.autoCreate {
	case "true", "":
		return true
	case "false":
		return false
	}
	for _, p := range strings.Split(s.autoCreate, ",") {
		p = strings.TrimSpace(p)
		allow := true
		if strings.HasPrefix(p, "-") {
			allow, p = false, p[1:]
		} else {
			p = strings.TrimPrefix(p, "+")
		}
		if globMatch(p, name) {
			return allow
		}
	}
	return false
}

// Settings.

var knownIndexSettings = map[string]bool{
	"number_of_shards": true, "number_of_replicas": true, "refresh_interval": true, "max_result_window": true,
	"auto_expand_replicas": true, "hidden": true, "lifecycle.name": true, "lifecycle.rollover_alias": true,
	"lifecycle.origination_date": true, "lifecycle.parse_origination_date": true, "codec": true,
	"mapping.total_fields.limit": true, "mapping.depth.limit": true, "query.default_field": true, "priority": true,
	"translog.durability": true, "translog.sync_interval": true, "max_inner_result_window": true,
	"number_of_routing_shards": true,
}

// index settings Elasticsearch has and the stand-in does not reproduce.
var unsupportedIndexSettings = []string{"analysis.", "sort.", "blocks.", "routing.", "mode", "mapping.ignore_malformed", "similarity.", "search.", "indexing."}

// flattenSettings turns {"index":{"number_of_shards":1}} or
// {"number_of_shards":"1"} into {"index.number_of_shards":"1"}, refusing
// unknown settings as Elasticsearch does.
func flattenSettings(raw map[string]any) (map[string]string, error) {
	out := map[string]string{}
	var walk func(prefix string, v any) error
	walk = func(prefix string, v any) error {
		switch x := v.(type) {
		case map[string]any:
			for k, sub := range x {
				if err := walk(prefix+k+".", sub); err != nil {
					return err
				}
			}
			return nil
		case []any:
			parts := make([]string, 0, len(x))
			for _, e := range x {
				s, _ := scalarText(e)
				parts = append(parts, s)
			}
			v = strings.Join(parts, ",")
		}
		key := strings.TrimSuffix(prefix, ".")
		if !strings.HasPrefix(key, "index.") {
			key = "index." + key
		}
		name := strings.TrimPrefix(key, "index.")
		for _, u := range unsupportedIndexSettings {
			if name == u || strings.HasSuffix(u, ".") && strings.HasPrefix(name, u) {
				return unsupported("index setting [%s]", key)
			}
		}
		if !knownIndexSettings[name] {
			return badRequest("unknown setting [%s] please check that any required plugins are installed, or check the breaking changes documentation for removed settings", key)
		}
		s, _ := scalarText(v)
		if v == nil {
			s = ""
		}
		out[key] = s
		return nil
	}
	if err := walk("", raw); err != nil {
		return nil, err
	}
	for k, v := range out {
		switch k {
		case "index.number_of_shards", "index.number_of_replicas", "index.max_result_window", "index.priority":
			if n, err := strconv.Atoi(v); err != nil || n < 0 || (k == "index.number_of_shards" && n < 1) {
				return nil, badRequest("Failed to parse value [%s] for setting [%s] must be >= %d", v, k, map[bool]int{true: 1, false: 0}[k == "index.number_of_shards"])
			}
		case "index.refresh_interval":
			if _, err := parseDuration(v); err != nil {
				return nil, badRequest("%v", err)
			}
		}
	}
	return out, nil
}

func nestSettings(flat map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range flat {
		parts := strings.Split(k, ".")
		m := out
		for _, p := range parts[:len(parts)-1] {
			sub, ok := m[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[p] = sub
			}
			m = sub
		}
		m[parts[len(parts)-1]] = v
	}
	return out
}

// Templates.

func parseTemplate(name string, body map[string]any) (*indexTemplate, error) {
	t := &indexTemplate{name: name, body: map[string]any{}}
	for k, v := range body {
		switch k {
		case "index_patterns":
			switch x := v.(type) {
			case string:
				t.patterns = strings.Split(x, ",")
			case []any:
				for _, p := range x {
					if s, ok := p.(string); ok {
						t.patterns = append(t.patterns, s)
					}
				}
			}
		case "priority":
			n, ok := intValue(v)
			if !ok || n < 0 {
				return nil, parsingError("[index_template] failed to parse field [priority]")
			}
			t.priority = int64(n)
			t.body[k] = n
		case "version":
			n, _ := intValue(v)
			t.body[k] = n
		case "_meta":
			t.body[k] = v
		case "composed_of", "ignore_missing_component_templates":
			if !isEmpty(v) {
				return nil, unsupported("component templates (composed_of)")
			}
		case "data_stream":
			return nil, unsupported("data streams")
		case "allow_auto_create", "deprecated":
			t.body[k] = v
		case "template":
			tpl, ok := v.(map[string]any)
			if !ok {
				return nil, parsingError("[index_template] failed to parse field [template]")
			}
			rendered := map[string]any{}
			for tk, tv := range tpl {
				switch tk {
				case "settings":
					raw, _ := tv.(map[string]any)
					flat, err := flattenSettings(raw)
					if err != nil {
						return nil, err
					}
					t.settings = flat
					if len(flat) > 0 {
						rendered["settings"] = nestSettings(flat)
					}
				case "mappings":
					raw, _ := tv.(map[string]any)
					m, err := parseMapping(raw)
					if err != nil {
						return nil, err
					}
					t.mappings = raw
					rendered["mappings"] = m.render()
				case "aliases":
					if !isEmpty(tv) {
						return nil, unsupported("aliases")
					}
				case "lifecycle", "data_stream_options":
					return nil, unsupported("template [%s]", tk)
				default:
					return nil, parsingError("[template] unknown field [%s]", tk)
				}
			}
			t.body["template"] = rendered
		default:
			return nil, parsingError("[index_template] unknown field [%s]", k)
		}
	}
	if len(t.patterns) == 0 {
		return nil, errf(http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: index patterns are missing;")
	}
	t.body["index_patterns"] = t.patterns
	t.body["composed_of"] = []string{}
	return t, nil
}

func patternsOverlap(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if globMatch(x, strings.ReplaceAll(y, "*", "")) || globMatch(y, strings.ReplaceAll(x, "*", "")) {
				return true
			}
		}
	}
	return false
}

// PutTemplate installs or replaces an index template.
func (s *Store) PutTemplate(name string, body map[string]any, createOnly bool) error {
	t, err := parseTemplate(name, body)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := s.templates[name]; exists && createOnly {
		return badRequest("index template [%s] already exists", name)
	}
	for _, other := range s.templates {
		if other.name != name && other.priority == t.priority && patternsOverlap(other.patterns, t.patterns) {
			return badRequest("index template [%s] has index patterns %v matching patterns from existing templates [%s] with patterns (%s => %v) that have the same priority [%d], multiple index templates may not match during index creation, please use a different priority",
				name, t.patterns, other.name, other.name, other.patterns, t.priority)
		}
	}
	raw, _ := json.Marshal(t.body)
	s.templates[name] = t
	s.logRecord(record{Op: "template", Name: name, Body: raw})
	return s.commit()
}

// matchingTemplate is the template with the highest priority whose
// patterns match the index name.
func (s *Store) matchingTemplate(name string) *indexTemplate {
	var best *indexTemplate
	for _, t := range s.templates {
		for _, p := range t.patterns {
			if globMatch(p, name) && (best == nil || t.priority > best.priority || t.priority == best.priority && t.name < best.name) {
				best = t
			}
		}
	}
	return best
}

// createIndexLocked creates an index from the matching template and the
// request's own settings and mappings (which win).
func (s *Store) createIndexLocked(name string, settings map[string]string, mappings map[string]any) (*index, error) {
	if err := validIndexName(name); err != nil {
		return nil, err
	}
	if ix := s.indices[name]; ix != nil {
		return nil, errf(http.StatusBadRequest, "resource_already_exists_exception", "index [%s/%s] already exists", name, ix.uuid).with("index_uuid", ix.uuid).with("index", name)
	}
	flat := map[string]string{}
	m := newMapping()
	if t := s.matchingTemplate(name); t != nil {
		for k, v := range t.settings {
			flat[k] = v
		}
		if t.mappings != nil {
			tm, err := parseMapping(t.mappings)
			if err != nil {
				return nil, err
			}
			m = tm
		}
	}
	for k, v := range settings {
		flat[k] = v
	}
	if mappings != nil {
		rm, err := parseMapping(mappings)
		if err != nil {
			return nil, err
		}
		if err := m.merge(rm, mappings); err != nil {
			return nil, err
		}
	}
	if _, err := originationDate(name, flat, 0); err != nil {
		return nil, err
	}
	if _, ok := flat["index.number_of_shards"]; !ok {
		flat["index.number_of_shards"] = "1"
	}
	if _, ok := flat["index.number_of_replicas"]; !ok {
		flat["index.number_of_replicas"] = "1"
	}
	ix := &index{name: name, uuid: randomID(22), created: s.now().UnixMilli(), settings: flat, mapping: m, docs: map[string]*document{}}
	ix.refresh(s.now())
	s.indices[name] = ix
	s.logRecord(record{Op: "create", Index: name, UUID: ix.uuid, Created: ix.created, Settings: flat, Mappings: m.render()})
	return ix, nil
}

// Writes.

// writeOp is one index, create, update or delete operation.
type writeOp struct {
	action      string
	index       string
	id          string
	source      []byte
	ifSeqNo     *int64
	ifTerm      *int64
	version     *int64
	versionType string
}

// writeResult is an operation's outcome, as a bulk item shows it.
type writeResult struct {
	status int
	body   map[string]any
	index  string // set when something was written
}

func itemError(op writeOp, ix *index, e *esError) writeResult {
	if ix != nil && e.Extra == nil {
		e = e.with("index_uuid", ix.uuid).with("shard", "0").with("index", ix.name)
	}
	body := map[string]any{"_index": op.index, "_id": op.id, "status": e.Status, "error": e.object()}
	return writeResult{status: e.Status, body: body}
}

// write applies one operation with the store locked; the caller commits.
func (s *Store) writeLocked(op writeOp) writeResult {
	if err := validIndexName(op.index); err != nil {
		return itemError(op, nil, err)
	}
	ix := s.indices[op.index]
	if ix == nil {
		if op.action == "delete" || op.action == "update" && !upsertable(op.source) {
			if op.action == "update" {
				return itemError(op, nil, errf(http.StatusNotFound, "document_missing_exception", "[%s]: document missing", op.id).with("index_uuid", "_na_").with("shard", "0").with("index", op.index))
			}
			return itemError(op, nil, indexNotFound(op.index))
		}
		if !s.autoCreateAllowed(op.index) {
			e := indexNotFound(op.index)
			e.Reason = fmt.Sprintf("no such index [%s] and [action.auto_create_index] is [%s]", op.index, s.autoCreate)
			return itemError(op, nil, e)
		}
		var err error
		if ix, err = s.createIndexLocked(op.index, nil, nil); err != nil {
			return itemError(op, nil, asESError(err))
		}
	}
	if op.id == "" {
		if op.action != "index" && op.action != "create" {
			return itemError(op, ix, errf(http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: id is missing;"))
		}
		op.id = randomID(20)
	}
	if len(op.id) > 512 {
		return itemError(op, ix, errf(http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: id [%s] is too long, must be no longer than 512 bytes but was: %d;", op.id, len(op.id)))
	}
	cur := ix.docs[op.id]
	conflict := func(format string, args ...any) writeResult {
		return itemError(op, ix, errf(http.StatusConflict, "version_conflict_engine_exception", "[%s]: version conflict, %s", op.id, fmt.Sprintf(format, args...)))
	}
	if op.ifSeqNo != nil || op.ifTerm != nil {
		seq, term := int64(-2), int64(1)
		if op.ifSeqNo != nil {
			seq = *op.ifSeqNo
		}
		if op.ifTerm != nil {
			term = *op.ifTerm
		}
		if cur == nil {
			return conflict("required seqNo [%d], primary term [%d] but no document was found", seq, term)
		}
		if cur.seqNo != seq || term != 1 {
			return conflict("required seqNo [%d], primary term [%d]. current document has seqNo [%d] and primary term [1]", seq, term, cur.seqNo)
		}
	}
	newVersion := int64(1)
	if cur != nil {
		newVersion = cur.version + 1
	}
	if op.version != nil && (op.versionType == "external" || op.versionType == "external_gt" || op.versionType == "external_gte") {
		if cur != nil && (*op.version < cur.version || *op.version == cur.version && op.versionType != "external_gte") {
			return conflict("current version [%d] is higher or equal to the one provided [%d]", cur.version, *op.version)
		}
		newVersion = *op.version
	}

	source := op.source
	switch op.action {
	case "create":
		if cur != nil {
			return conflict("document already exists (current version [%d])", cur.version)
		}
	case "delete":
		if cur == nil {
			body := map[string]any{"_index": ix.name, "_id": op.id, "_version": 1, "result": "not_found",
				"_shards": shardsWritten(ix), "_seq_no": ix.nextSeq, "_primary_term": 1, "status": http.StatusNotFound}
			ix.nextSeq++
			s.logRecord(record{Op: "del", Index: ix.name, ID: op.id, Seq: ix.nextSeq - 1})
			return writeResult{status: http.StatusNotFound, body: body, index: ix.name}
		}
		seq := ix.nextSeq
		ix.nextSeq++
		delete(ix.docs, op.id)
		ix.dirty = true
		s.logRecord(record{Op: "del", Index: ix.name, ID: op.id, Seq: seq})
		body := map[string]any{"_index": ix.name, "_id": op.id, "_version": newVersion, "result": "deleted",
			"_shards": shardsWritten(ix), "_seq_no": seq, "_primary_term": 1, "status": http.StatusOK}
		return writeResult{status: http.StatusOK, body: body, index: ix.name}
	case "update":
		merged, noop, err := applyUpdate(cur, op)
		if err != nil {
			return itemError(op, ix, asESError(err))
		}
		if noop {
			body := map[string]any{"_index": ix.name, "_id": op.id, "_version": cur.version, "result": "noop",
				"_shards": map[string]int{"total": 0, "successful": 0, "failed": 0}, "_seq_no": cur.seqNo, "_primary_term": 1, "status": http.StatusOK}
			return writeResult{status: http.StatusOK, body: body}
		}
		source = merged
	}

	src, err := decodeObject(source)
	if err != nil {
		return itemError(op, ix, docError("[1:1] failed to parse: %v", err))
	}
	fields, updated, err := parseDocument(ix.mapping, op.id, src)
	if err != nil {
		return itemError(op, ix, asESError(err))
	}
	if updated != nil {
		ix.mapping = updated
		s.logRecord(record{Op: "mapping", Index: ix.name, Mappings: updated.render()})
	}
	seq := ix.nextSeq
	ix.nextSeq++
	stored := json.RawMessage(bytes.TrimSpace(source))
	ix.docs[op.id] = &document{id: op.id, source: stored, version: newVersion, seqNo: seq, fields: fields}
	ix.dirty = true
	s.logRecord(record{Op: "doc", Index: ix.name, ID: op.id, Version: newVersion, Seq: seq, Source: stored})
	result, status := "created", http.StatusCreated
	if cur != nil {
		result, status = "updated", http.StatusOK
	}
	body := map[string]any{"_index": ix.name, "_id": op.id, "_version": newVersion, "result": result,
		"_shards": shardsWritten(ix), "_seq_no": seq, "_primary_term": 1, "status": status}
	return writeResult{status: status, body: body, index: ix.name}
}

func shardsWritten(ix *index) map[string]int {
	return map[string]int{"total": 1 + ix.replicas(), "successful": 1, "failed": 0}
}

func upsertable(body []byte) bool {
	m, err := decodeObject(body)
	if err != nil {
		return false
	}
	asUpsert, _ := m["doc_as_upsert"].(bool)
	_, hasUpsert := m["upsert"]
	return asUpsert || hasUpsert
}

// applyUpdate merges a partial document into the current one, or takes the
// upsert document when there is none.
func applyUpdate(cur *document, op writeOp) (merged []byte, noop bool, err error) {
	body, err := decodeObject(op.source)
	if err != nil {
		return nil, false, parsingError("request body is malformed: %v", err)
	}
	for k := range body {
		switch k {
		case "doc", "upsert", "doc_as_upsert", "detect_noop", "_source":
		case "script", "scripted_upsert":
			return nil, false, unsupported("update scripts")
		default:
			return nil, false, parsingError("[UpdateRequest] unknown field [%s]", k)
		}
	}
	doc, _ := body["doc"].(map[string]any)
	if cur == nil {
		if up, ok := body["upsert"].(map[string]any); ok {
			b, _ := json.Marshal(up)
			return b, false, nil
		}
		if asUpsert, _ := body["doc_as_upsert"].(bool); asUpsert && doc != nil {
			b, _ := json.Marshal(doc)
			return b, false, nil
		}
		return nil, false, errf(http.StatusNotFound, "document_missing_exception", "[%s]: document missing", op.id)
	}
	if doc == nil {
		return nil, false, errf(http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: script or doc is missing;")
	}
	existing, err := decodeObject(cur.source)
	if err != nil {
		return nil, false, err
	}
	before, _ := json.Marshal(existing)
	deepMerge(existing, doc)
	after, _ := json.Marshal(existing)
	detect := true
	if d, ok := body["detect_noop"].(bool); ok {
		detect = d
	}
	if detect && bytes.Equal(before, after) {
		return nil, true, nil
	}
	return after, false, nil
}

func deepMerge(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				deepMerge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// Write applies operations in order, commits them to the log once, and
// refreshes the indices written to when refresh asks for it.
func (s *Store) Write(ops []writeOp, refresh bool) ([]writeResult, error) {
	s.mu.Lock()
	results := make([]writeResult, len(ops))
	var written []string
	for i, op := range ops {
		results[i] = s.writeLocked(op)
		if results[i].index != "" && !slices.Contains(written, results[i].index) {
			written = append(written, results[i].index)
		}
	}
	err := s.commit()
	if refresh {
		now := s.now()
		for _, n := range written {
			if ix := s.indices[n]; ix != nil {
				ix.refresh(now)
			}
		}
		for i := range results {
			if results[i].index != "" {
				results[i].body["forced_refresh"] = true
			}
		}
	}
	s.mu.Unlock()
	return results, err
}

// CreateIndex creates an index explicitly.
func (s *Store) CreateIndex(name string, body map[string]any) (*index, error) {
	var settings map[string]string
	var mappings map[string]any
	for k, v := range body {
		switch k {
		case "settings":
			raw, _ := v.(map[string]any)
			flat, err := flattenSettings(raw)
			if err != nil {
				return nil, err
			}
			settings = flat
		case "mappings":
			mappings, _ = v.(map[string]any)
			if mappings == nil {
				mappings = map[string]any{}
			}
		case "aliases":
			if !isEmpty(v) {
				return nil, unsupported("aliases")
			}
		default:
			return nil, parsingError("unknown key [%s] for create index", k)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ix, err := s.createIndexLocked(name, settings, mappings)
	if err != nil {
		return nil, err
	}
	return ix, s.commit()
}

// DeleteIndices deletes the named indices.
func (s *Store) DeleteIndices(names []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		delete(s.indices, n)
		s.logRecord(record{Op: "delete_index", Index: n})
	}
	return s.commit()
}

// PutMapping adds fields to the indices' mappings.
func (s *Store) PutMapping(names []string, raw map[string]any) error {
	u, err := parseMapping(raw)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	updated := map[string]*mapping{}
	for _, n := range names {
		m := s.indices[n].mapping.clone()
		if err := m.merge(u, raw); err != nil {
			return err
		}
		updated[n] = m
	}
	for n, m := range updated {
		s.indices[n].mapping = m
		s.logRecord(record{Op: "mapping", Index: n, Mappings: m.render()})
	}
	return s.commit()
}

// PutSettings changes dynamic settings of the indices.
func (s *Store) PutSettings(names []string, raw map[string]any) error {
	flat, err := flattenSettings(raw)
	if err != nil {
		return err
	}
	for k := range flat {
		if k == "index.number_of_shards" || k == "index.number_of_routing_shards" || k == "index.codec" {
			return badRequest("Can't update non dynamic settings [[%s]] for open indices", k)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		ix := s.indices[n]
		settings := maps(ix.settings)
		for k, v := range flat {
			if v == "" {
				delete(settings, k)
			} else {
				settings[k] = v
			}
		}
		ix.settings = settings
		s.logRecord(record{Op: "settings", Index: n, Settings: settings})
	}
	return s.commit()
}

func maps(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Get returns a live document (reads are real time, as in Elasticsearch).
func (s *Store) Get(indexName, id string) (*document, *index, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ix := s.indices[indexName]
	if ix == nil {
		return nil, nil, indexNotFound(indexName)
	}
	return ix.docs[id], ix, nil
}

// PutPolicy stores an ILM policy; ILM does nothing else here.
func (s *Store) PutPolicy(name string, body map[string]any) error {
	pol, ok := body["policy"].(map[string]any)
	if !ok {
		return parsingError("[put_lifecycle_request] failed to parse field [policy]")
	}
	for k := range pol {
		switch k {
		case "phases", "_meta", "deprecated":
		default:
			return parsingError("[lifecycle_policy] unknown field [%s]", k)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &ilmPolicy{Version: 1, Modified: s.now().UTC().Format("2006-01-02T15:04:05.000Z"), Policy: pol}
	if old := s.policies[name]; old != nil {
		if reflect.DeepEqual(old.Policy, pol) {
			return nil
		}
		p.Version = old.Version + 1
	}
	raw, _ := json.Marshal(p)
	s.policies[name] = p
	s.logRecord(record{Op: "ilm", Name: name, Body: raw})
	return s.commit()
}

// Index lifecycles.

// originationRegexp is ILM's IndexLifecycleOriginationDateParser pattern
// (its dots match any character, as in Elasticsearch).
var originationRegexp = regexp.MustCompile(`^.*-(\d{4}.\d{2}.\d{2})(-[\d]+)?$`)

// originationDate is the date an index's lifecycle counts from:
// index.lifecycle.origination_date, else the date in its name when
// index.lifecycle.parse_origination_date is true (an index whose name has no
// such date cannot be created, as in Elasticsearch), else created.
func originationDate(name string, settings map[string]string, created int64) (int64, error) {
	if v := settings["index.lifecycle.origination_date"]; v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, badRequest("Failed to parse value [%s] for setting [index.lifecycle.origination_date]", v)
		}
		return n, nil
	}
	if settings["index.lifecycle.parse_origination_date"] != "true" {
		return created, nil
	}
	m := originationRegexp.FindStringSubmatch(name)
	if m == nil {
		return 0, badRequest("index name [%s] does not match pattern '%s'", name, `^.*-(\d{4}.\d{2}.\d{2})(-[\d]+)?$`)
	}
	t, err := time.Parse("2006.01.02", m[1])
	if err != nil {
		return 0, badRequest("index name [%s] contains date [%s] which couldn't be parsed using the 'yyyy.MM.dd' format", name, m[1])
	}
	return t.UnixMilli(), nil
}

// runLifecycles applies the delete phase of each index's lifecycle policy:
// an index whose policy has a delete action is deleted once its origination
// date is min_age old. Other phases and actions are not run.
func (s *Store) runLifecycles() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UnixMilli()
	for _, name := range sortedKeys(s.indices) {
		ix := s.indices[name]
		pol := s.policies[ix.setting("lifecycle.name", "")]
		if pol == nil {
			continue
		}
		phases, _ := pol.Policy["phases"].(map[string]any)
		del, _ := phases["delete"].(map[string]any)
		actions, _ := del["actions"].(map[string]any)
		if _, ok := actions["delete"]; !ok {
			continue
		}
		minAge := time.Duration(0)
		if v, ok := del["min_age"]; ok {
			str, _ := scalarText(v)
			d, err := parseDuration(str)
			if err != nil {
				continue
			}
			minAge = d
		}
		origin, err := originationDate(name, ix.settings, ix.created)
		if err != nil || now < origin+minAge.Milliseconds() {
			continue
		}
		delete(s.indices, name)
		s.logRecord(record{Op: "delete_index", Index: name})
		s.log.Info("index lifecycle deleted an index", "index", name, "policy", ix.setting("lifecycle.name", ""), "min_age", minAge.String())
	}
	if err := s.commit(); err != nil {
		s.log.Error("index lifecycle", "err", err)
	}
}
