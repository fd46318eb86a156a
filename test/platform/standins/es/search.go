package es

import (
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// view is one index as a search sees it: the refreshed documents and the
// mapping, taken under the lock and read without it.
type view struct {
	name     string
	docs     []*document
	m        *mapping
	maxWin   int
	defField []string
	shards   int
	replicas int
	uuid     string
	settings map[string]any // as GET _settings shows them
}

// resolve turns an index expression (names, wildcards, _all, -exclusions)
// into the matching indices, as search and count do.
func (s *Store) resolve(expr string, ignoreUnavailable, allowNoIndices bool) ([]view, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names, err := s.resolveNamesLocked(expr, ignoreUnavailable, allowNoIndices)
	if err != nil {
		return nil, err
	}
	out := make([]view, 0, len(names))
	for _, n := range names {
		ix := s.indices[n]
		maxWin, _ := strconv.Atoi(ix.setting("max_result_window", "10000"))
		df := strings.Split(ix.setting("query.default_field", "*"), ",")
		out = append(out, view{name: n, docs: ix.visible, m: ix.mapping, maxWin: maxWin, defField: df,
			shards: ix.shards(), replicas: ix.replicas(), uuid: ix.uuid, settings: renderSettings(ix)})
	}
	return out, nil
}

func (s *Store) resolveNamesLocked(expr string, ignoreUnavailable, allowNoIndices bool) ([]string, error) {
	if expr == "" || expr == "_all" {
		expr = "*"
	}
	set := map[string]bool{}
	wildcardSeen := false
	for _, part := range strings.Split(expr, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.HasPrefix(part, "-") && wildcardSeen {
			for n := range set {
				if globMatch(part[1:], n) {
					delete(set, n)
				}
			}
			continue
		}
		if strings.Contains(part, "*") || part == "_all" {
			wildcardSeen = true
			if part == "_all" {
				part = "*"
			}
			matched := false
			for n, ix := range s.indices {
				if globMatch(part, n) && (ix.setting("hidden", "false") != "true" || strings.HasPrefix(part, ".")) {
					set[n] = true
					matched = true
				}
			}
			if !matched && !allowNoIndices {
				return nil, indexNotFound(part)
			}
			continue
		}
		if s.indices[part] == nil {
			if ignoreUnavailable {
				continue
			}
			return nil, indexNotFound(part)
		}
		set[part] = true
	}
	if len(set) == 0 && !allowNoIndices && !ignoreUnavailable {
		return nil, indexNotFound(expr)
	}
	return sortedKeys(set), nil
}

// searchRequest is a parsed search body with its URL parameters.
type searchRequest struct {
	query         any
	postFilter    any
	size, from    int
	sort          []sortSpec
	trackTotal    int // -1: false; math.MaxInt: exact
	source        sourceFilter
	searchAfter   []any
	aggs          map[string]any
	minScore      *float64
	trackScores   bool
	version       bool
	seqNo         bool
	typedKeys     bool
	totalAsInt    bool
	ignoreUnavail bool
	allowNoIdx    bool
}

type sortSpec struct {
	field        string // or _score, _doc, _index
	desc         bool
	missing      any // "_last" (default), "_first" or a value
	unmappedType string
	mode         string
	format       string
}

type sourceFilter struct {
	disabled bool
	includes []string
	excludes []string
}

func (sf sourceFilter) active() bool {
	return sf.disabled || len(sf.includes) > 0 || len(sf.excludes) > 0
}

func parseSourceFilter(v any) (sourceFilter, error) {
	switch x := v.(type) {
	case bool:
		return sourceFilter{disabled: !x}, nil
	case string:
		return sourceFilter{includes: []string{x}}, nil
	case []any:
		return sourceFilter{includes: stringList(x)}, nil
	case map[string]any:
		sf := sourceFilter{}
		for k, val := range x {
			switch k {
			case "includes", "include":
				sf.includes = stringList(val)
			case "excludes", "exclude":
				sf.excludes = stringList(val)
			default:
				return sf, parsingError("Unknown key for a START_OBJECT in [_source]: [%s]", k)
			}
		}
		return sf, nil
	}
	return sourceFilter{}, parsingError("[_source] must be a boolean, a string, an array or an object")
}

func parseSortSpecs(v any) ([]sortSpec, error) {
	var list []any
	switch x := v.(type) {
	case []any:
		list = x
	default:
		list = []any{x}
	}
	var out []sortSpec
	for _, e := range list {
		switch x := e.(type) {
		case string:
			out = append(out, sortSpec{field: x, desc: x == "_score"})
		case map[string]any:
			for field, spec := range x {
				ss := sortSpec{field: field, desc: field == "_score"}
				switch y := spec.(type) {
				case string:
					ss.desc = strings.EqualFold(y, "desc")
					if !ss.desc && !strings.EqualFold(y, "asc") {
						return nil, badRequest("Unknown SortOrder [%s]", y)
					}
				case map[string]any:
					for k, val := range y {
						s, _ := scalarText(val)
						switch k {
						case "order":
							ss.desc = strings.EqualFold(s, "desc")
							if !ss.desc && !strings.EqualFold(s, "asc") {
								return nil, badRequest("Unknown SortOrder [%s]", s)
							}
						case "missing":
							ss.missing = val
						case "unmapped_type":
							ss.unmappedType = s
						case "mode":
							ss.mode = s
						case "format":
							ss.format = s
						case "numeric_type":
						case "nested":
							return nil, unsupported("nested sort")
						default:
							return nil, parsingError("[field_sort] unknown field [%s]", k)
						}
					}
				default:
					return nil, parsingError("[sort] malformed")
				}
				out = append(out, ss)
			}
		default:
			return nil, parsingError("[sort] malformed")
		}
	}
	return out, nil
}

// parseURLSort reads sort=field:desc,other.
func parseURLSort(s string) []sortSpec {
	var out []sortSpec
	for _, part := range strings.Split(s, ",") {
		f, o, _ := strings.Cut(part, ":")
		out = append(out, sortSpec{field: f, desc: o == "desc" || o == "" && f == "_score"})
	}
	return out
}

func boolParam(q url.Values, name string, def bool) (bool, error) {
	v, ok := q[name]
	if !ok {
		return def, nil
	}
	switch v[0] {
	case "", "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, badRequest("Failed to parse value [%s] as only [true] or [false] are allowed.", v[0])
}

func intParam(q url.Values, name string, def int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, badRequest("Failed to parse int parameter [%s] with value [%s]", name, v)
	}
	return n, nil
}

var searchBodyUnsupported = map[string]bool{
	"highlight": true, "collapse": true, "rescore": true, "script_fields": true, "docvalue_fields": true,
	"stored_fields": true, "fields": true, "pit": true, "runtime_mappings": true, "indices_boost": true,
	"suggest": true, "knn": true, "rank": true, "retriever": true, "slice": true, "terminate_after": true, "sub_searches": true,
}

func parseSearch(body map[string]any, q url.Values) (*searchRequest, error) {
	r := &searchRequest{size: 10, trackTotal: 10000}
	var err error
	if r.typedKeys, err = boolParam(q, "typed_keys", false); err != nil {
		return nil, err
	}
	if r.ignoreUnavail, err = boolParam(q, "ignore_unavailable", false); err != nil {
		return nil, err
	}
	if r.allowNoIdx, err = boolParam(q, "allow_no_indices", true); err != nil {
		return nil, err
	}
	if r.totalAsInt, err = boolParam(q, "rest_total_hits_as_int", false); err != nil {
		return nil, err
	}
	if r.totalAsInt {
		r.trackTotal = math.MaxInt
	}
	for k, v := range body {
		switch k {
		case "query":
			r.query = v
		case "post_filter":
			r.postFilter = v
		case "size":
			n, ok := intValue(v)
			if !ok {
				return nil, parsingError("[size] must be an integer")
			}
			r.size = n
		case "from":
			n, ok := intValue(v)
			if !ok {
				return nil, parsingError("[from] must be an integer")
			}
			r.from = n
		case "sort":
			if r.sort, err = parseSortSpecs(v); err != nil {
				return nil, err
			}
		case "track_total_hits":
			switch x := v.(type) {
			case bool:
				if x {
					r.trackTotal = math.MaxInt
				} else {
					r.trackTotal = -1
				}
			default:
				n, ok := intValue(v)
				if !ok || n < -1 {
					return nil, badRequest("[track_total_hits] parameter must be positive or equals to -1, got %v", v)
				}
				if n == -1 {
					n = math.MaxInt
				}
				r.trackTotal = n
			}
		case "_source":
			if r.source, err = parseSourceFilter(v); err != nil {
				return nil, err
			}
		case "search_after":
			list, ok := v.([]any)
			if !ok {
				return nil, parsingError("[search_after] must be an array")
			}
			r.searchAfter = list
		case "aggs", "aggregations":
			m, ok := v.(map[string]any)
			if !ok {
				return nil, parsingError("[aggs] must be an object")
			}
			r.aggs = m
		case "min_score":
			f, ok := floatValue(v)
			if !ok {
				return nil, parsingError("[min_score] must be a number")
			}
			r.minScore = &f
		case "track_scores":
			r.trackScores, _ = v.(bool)
		case "version":
			r.version, _ = v.(bool)
		case "seq_no_primary_term":
			r.seqNo, _ = v.(bool)
		case "timeout", "explain", "profile", "stats", "_name", "allow_partial_search_results":
		default:
			if searchBodyUnsupported[k] {
				return nil, unsupported("search option [%s]", k)
			}
			return nil, parsingError("Unknown key for a %s in [%s].", tokenKind(v), k)
		}
	}
	if v := q.Get("q"); v != "" {
		qs := map[string]any{"query": v}
		if df := q.Get("df"); df != "" {
			qs["default_field"] = df
		}
		if op := q.Get("default_operator"); op != "" {
			qs["default_operator"] = op
		}
		if l := q.Get("lenient"); l == "true" {
			qs["lenient"] = true
		}
		r.query = map[string]any{"query_string": qs}
	}
	if r.size, err = intParam(q, "size", r.size); err != nil {
		return nil, err
	}
	if r.from, err = intParam(q, "from", r.from); err != nil {
		return nil, err
	}
	if v := q.Get("sort"); v != "" {
		r.sort = parseURLSort(v)
	}
	if v := q.Get("track_total_hits"); v != "" {
		switch v {
		case "true":
			r.trackTotal = math.MaxInt
		case "false":
			r.trackTotal = -1
		default:
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, badRequest("Failed to parse int parameter [track_total_hits] with value [%s]", v)
			}
			r.trackTotal = n
		}
	}
	if v, ok := q["_source"]; ok {
		switch v[0] {
		case "true":
			r.source = sourceFilter{}
		case "false":
			r.source = sourceFilter{disabled: true}
		default:
			r.source = sourceFilter{includes: strings.Split(v[0], ",")}
		}
	}
	if v := q.Get("_source_includes"); v != "" {
		r.source.includes = strings.Split(v, ",")
	}
	if v := q.Get("_source_excludes"); v != "" {
		r.source.excludes = strings.Split(v, ",")
	}
	if r.size < 0 {
		return nil, badRequest("[size] parameter cannot be negative, found [%d]", r.size)
	}
	if r.from < 0 {
		return nil, badRequest("[from] parameter cannot be negative, found [%d]", r.from)
	}
	if r.searchAfter != nil {
		if len(r.sort) == 0 {
			return nil, errf(http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: [search_after] requires a [sort] to be set;")
		}
		if r.from > 0 {
			return nil, errf(http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: [from] parameter must be set to 0 when [search_after] is used;")
		}
		if len(r.searchAfter) != len(r.sort) {
			return nil, badRequest("search_after has %d value(s) but sort has %d.", len(r.searchAfter), len(r.sort))
		}
	}
	return r, nil
}

func tokenKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "START_OBJECT"
	case []any:
		return "START_ARRAY"
	case string:
		return "VALUE_STRING"
	case bool:
		return "VALUE_BOOLEAN"
	case nil:
		return "VALUE_NULL"
	}
	return "VALUE_NUMBER"
}

// hit is a matching document of one index.
type hit struct {
	doc   *document
	v     *view
	score float64
	sort  []sortValue
}

// sortValue is a key a hit is sorted by: a number, a string, or missing.
type sortValue struct {
	missing bool
	isNum   bool
	num     float64
	str     string
	render  any
}

// searchResult is what a search found, before paging and rendering.
type searchResult struct {
	hits     []*hit // sorted, after search_after, before paging
	total    int
	shards   int
	failures []*esError
	aggs     map[string]any
	took     time.Duration
}

// execute runs a search over the views.
func execute(views []view, r *searchRequest, now time.Time) (*searchResult, error) {
	start := time.Now()
	res := &searchResult{}
	var matched, all []*hit
	succeeded := 0
	for i := range views {
		v := &views[i]
		res.shards += v.shards
		h, post, err := searchView(v, r, now)
		if err != nil {
			e := asESError(err)
			if e.shardIndex == "" {
				return nil, e
			}
			res.failures = append(res.failures, e.inShard(v.name))
			continue
		}
		succeeded++
		matched = append(matched, h...)
		all = append(all, post...)
	}
	if succeeded == 0 && len(res.failures) > 0 {
		return nil, res.failures[0]
	}
	if r.aggs != nil && succeeded > 0 {
		var searched []*view
		for i := range views {
			searched = append(searched, &views[i])
		}
		aggs, err := runAggs(r.aggs, matched, searched, r.typedKeys, now)
		if err != nil {
			if e := asESError(err); e.shardIndex != "" {
				return nil, e.inShard(views[0].name)
			}
			return nil, err
		}
		res.aggs = aggs
	}
	res.total = len(all)
	sortHits(all, r.sort)
	if r.searchAfter != nil {
		after, err := searchAfterValues(r, all)
		if err != nil {
			return nil, err
		}
		var kept []*hit
		for _, h := range all {
			if compareSortValues(h.sort, after, r.sort) > 0 {
				kept = append(kept, h)
			}
		}
		all = kept
	}
	res.hits = all
	res.took = time.Since(start)
	return res, nil
}

// searchView finds the documents of one index that match the query (for
// the aggregations) and those that also match post_filter (the hits),
// with their scores and sort keys.
func searchView(v *view, r *searchRequest, now time.Time) (matched, hits []*hit, err error) {
	if r.from+r.size > v.maxWin {
		return nil, nil, shardFailure("illegal_argument_exception", "Result window is too large, from + size must be less than or equal to: [%d] but was [%d]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting.", v.maxWin, r.from+r.size)
	}
	qc := &compiler{m: v.m, ix: v.name, now: now, defaultFields: v.defField}
	var q query = matchAllQ{boost: 1}
	if r.query != nil {
		if q, err = qc.compile(r.query); err != nil {
			return nil, nil, err
		}
	}
	var pf query
	if r.postFilter != nil {
		if pf, err = qc.compile(r.postFilter); err != nil {
			return nil, nil, err
		}
	}
	keys, err := sortKeysFor(v, r.sort)
	if err != nil {
		return nil, nil, err
	}
	c := newQctx(v.docs)
	for _, d := range v.docs {
		ok, score := q.eval(c, d)
		if !ok || r.minScore != nil && score < *r.minScore {
			continue
		}
		h := &hit{doc: d, v: v, score: score}
		matched = append(matched, h)
		if pf != nil {
			if ok, _ := pf.eval(c, d); !ok {
				continue
			}
		}
		h.sort = make([]sortValue, len(keys))
		for i, k := range keys {
			h.sort[i] = k(h)
		}
		hits = append(hits, h)
	}
	return matched, hits, nil
}

const textFielddataError = "Fielddata is disabled on [%s] in [%s]. Text fields are not optimised for operations that require per-document field data like aggregations and sorting, so these operations are disabled by default. Please use a keyword field instead. Alternatively, set fielddata=true on [%s] in order to load field data by uninverting the inverted index. Note that this can use significant memory."

// sortKeysFor checks the sort against the index's mapping and returns how
// to read each key from a hit.
func sortKeysFor(v *view, specs []sortSpec) ([]func(*hit) sortValue, error) {
	var out []func(*hit) sortValue
	for _, s := range specs {
		s := s
		switch s.field {
		case "_score":
			out = append(out, func(h *hit) sortValue { return sortValue{isNum: true, num: h.score, render: h.score} })
			continue
		case "_doc":
			out = append(out, func(h *hit) sortValue {
				return sortValue{isNum: true, num: float64(h.doc.seqNo), render: h.doc.seqNo}
			})
			continue
		case "_index":
			out = append(out, func(h *hit) sortValue { return sortValue{str: h.v.name, render: h.v.name} })
			continue
		case "_id":
			return nil, badRequest("Fielddata access on the _id field is disallowed, you can re-enable it by updating the dynamic cluster setting: indices.id_field_data.enabled")
		}
		f := v.m.leaves[s.field]
		if f == nil {
			if s.unmappedType == "" {
				return nil, shardError("No mapping found for [%s] in order to sort on", s.field)
			}
			f = &fieldMapping{Type: s.unmappedType, DocValues: true}
			if s.unmappedType == "date" {
				f.format, _ = parseDateFormat("")
			}
		}
		if isText(f) && !f.Fielddata {
			return nil, shardFailure("illegal_argument_exception", textFielddataError, s.field, v.name, s.field)
		}
		if !f.DocValues && !isText(f) {
			return nil, badRequest("Can't load fielddata on [%s] because fielddata is unsupported on fields of type [%s]. Use doc values instead.", s.field, f.Type)
		}
		var outFormat *dateFormat
		if f.Type == "date" && s.format != "" {
			df, err := parseDateFormat(s.format)
			if err != nil {
				return nil, badRequest("%v", err)
			}
			outFormat = df
		}
		mode := s.mode
		if mode == "" {
			mode = "min"
			if s.desc {
				mode = "max"
			}
		}
		out = append(out, func(h *hit) sortValue {
			vals := h.doc.fields[s.field]
			sv := sortValue{missing: true}
			if vals != nil {
				switch {
				case len(vals.nums) > 0:
					sv = sortValue{isNum: true, num: pickNum(vals.nums, mode)}
				case len(vals.bools) > 0:
					nums := make([]float64, len(vals.bools))
					for i, b := range vals.bools {
						if b {
							nums[i] = 1
						}
					}
					sv = sortValue{isNum: true, num: pickNum(nums, mode)}
				case len(vals.strs) > 0:
					sv = sortValue{str: pickStr(vals.strs, mode == "max")}
				case len(vals.toks) > 0:
					var all []string
					for _, t := range vals.toks {
						all = append(all, t...)
					}
					if len(all) > 0 {
						sv = sortValue{str: pickStr(all, mode == "max")}
					}
				}
			}
			if sv.missing {
				return missingSortValue(s, f)
			}
			return renderSort(sv, f, outFormat)
		})
	}
	return out, nil
}

// missingSortValue is the key of a document without the field: _last (the
// default) and _first place it at an end whatever the order, and a numeric
// field reports the sentinel Elasticsearch sorts it by (Long.MAX_VALUE or
// Long.MIN_VALUE); a value given as "missing" is used as the document's own.
func missingSortValue(s sortSpec, f *fieldMapping) sortValue {
	m, isStr := s.missing.(string)
	numeric := numericTypes[f.Type] || f.Type == "date" || f.Type == "boolean"
	if s.missing == nil || isStr && (m == "_last" || m == "_first") {
		first := m == "_first"
		if numeric {
			if s.desc == first {
				return sortValue{isNum: true, num: math.Inf(1), render: int64(math.MaxInt64)}
			}
			return sortValue{isNum: true, num: math.Inf(-1), render: int64(math.MinInt64)}
		}
		if first {
			return sortValue{str: "\x00first"}
		}
		return sortValue{str: "\x00last"}
	}
	if numeric {
		n, _ := floatValue(s.missing)
		return renderSort(sortValue{isNum: true, num: n}, f, nil)
	}
	str, _ := scalarText(s.missing)
	return sortValue{str: str, render: str}
}

func renderSort(sv sortValue, f *fieldMapping, outFormat *dateFormat) sortValue {
	if !sv.isNum {
		sv.render = sv.str
		return sv
	}
	switch {
	case outFormat != nil:
		sv.render = outFormat.format(int64(sv.num), nil)
	case f.Type == "date" || isIntegerType(f.Type) || f.Type == "boolean":
		sv.render = int64(sv.num)
	default:
		sv.render = sv.num
	}
	return sv
}

func pickNum(ns []float64, mode string) float64 {
	switch mode {
	case "max":
		m := ns[0]
		for _, n := range ns {
			m = max(m, n)
		}
		return m
	case "sum", "avg":
		s := 0.0
		for _, n := range ns {
			s += n
		}
		if mode == "avg" {
			return s / float64(len(ns))
		}
		return s
	case "median":
		c := append([]float64{}, ns...)
		sort.Float64s(c)
		if len(c)%2 == 1 {
			return c[len(c)/2]
		}
		return (c[len(c)/2-1] + c[len(c)/2]) / 2
	}
	m := ns[0]
	for _, n := range ns {
		m = min(m, n)
	}
	return m
}

func pickStr(ss []string, wantMax bool) string {
	m := ss[0]
	for _, s := range ss {
		if wantMax && s > m || !wantMax && s < m {
			m = s
		}
	}
	return m
}

// compareSortValues orders two hits' keys; missing strings go last (or
// first) whatever the direction, as Elasticsearch's _last/_first do.
func compareSortValues(a, b []sortValue, specs []sortSpec) int {
	for i := range a {
		x, y := a[i], b[i]
		xm, ym := strings.HasPrefix(x.str, "\x00"), strings.HasPrefix(y.str, "\x00")
		if xm || ym {
			if xm && ym {
				continue
			}
			if xm {
				if x.str == "\x00first" {
					return -1
				}
				return 1
			}
			if y.str == "\x00first" {
				return 1
			}
			return -1
		}
		c := 0
		switch {
		case x.isNum && y.isNum:
			if x.num < y.num {
				c = -1
			} else if x.num > y.num {
				c = 1
			}
		default:
			c = strings.Compare(x.str, y.str)
		}
		if c != 0 {
			if specs[i].desc {
				return -c
			}
			return c
		}
	}
	return 0
}

// sortHits orders hits by the sort (by score, then index and seq_no, when
// there is none).
func sortHits(hits []*hit, specs []sortSpec) {
	if len(specs) == 0 {
		sort.SliceStable(hits, func(i, j int) bool {
			if hits[i].score != hits[j].score {
				return hits[i].score > hits[j].score
			}
			if hits[i].v.name != hits[j].v.name {
				return hits[i].v.name < hits[j].v.name
			}
			return hits[i].doc.seqNo < hits[j].doc.seqNo
		})
		return
	}
	sort.SliceStable(hits, func(i, j int) bool {
		if c := compareSortValues(hits[i].sort, hits[j].sort, specs); c != 0 {
			return c < 0
		}
		if hits[i].v.name != hits[j].v.name {
			return hits[i].v.name < hits[j].v.name
		}
		return hits[i].doc.seqNo < hits[j].doc.seqNo
	})
}

// searchAfterValues reads search_after as sort keys, parsing dates the way
// the sorted field would.
func searchAfterValues(r *searchRequest, hits []*hit) ([]sortValue, error) {
	out := make([]sortValue, len(r.sort))
	for i, raw := range r.searchAfter {
		spec := r.sort[i]
		switch x := raw.(type) {
		case nil:
			out[i] = sortValue{str: "\x00last"}
		case string:
			if n, err := strconv.ParseFloat(x, 64); err == nil && spec.field != "_index" && !isStringSort(spec, hits) {
				out[i] = sortValue{isNum: true, num: n}
				continue
			}
			if isStringSort(spec, hits) || spec.field == "_index" {
				out[i] = sortValue{str: x}
				continue
			}
			df, _ := parseDateFormat(spec.format)
			ms, err := df.parse(x, false, nil)
			if err != nil {
				return nil, badRequest("Failed to parse search_after value for field [%s].", spec.field)
			}
			out[i] = sortValue{isNum: true, num: float64(ms)}
		case bool:
			out[i] = sortValue{isNum: true, num: map[bool]float64{true: 1, false: 0}[x]}
		default:
			n, ok := floatValue(x)
			if !ok {
				return nil, badRequest("Failed to parse search_after value for field [%s].", spec.field)
			}
			out[i] = sortValue{isNum: true, num: n}
		}
	}
	return out, nil
}

// isStringSort reports whether the sort field holds strings in the hits'
// indices.
func isStringSort(spec sortSpec, hits []*hit) bool {
	if spec.field == "_score" || spec.field == "_doc" {
		return false
	}
	if spec.field == "_index" {
		return true
	}
	for _, h := range hits {
		if f := h.v.m.leaves[spec.field]; f != nil {
			return f.Type == "keyword" || f.Type == "ip" || isText(f)
		}
	}
	t := spec.unmappedType
	return t == "" || t == "keyword" || t == "text" || t == "ip"
}

// renderHits pages the result and renders hits as Elasticsearch does.
func renderSearch(res *searchResult, r *searchRequest) map[string]any {
	hits := res.hits
	if r.from < len(hits) {
		hits = hits[r.from:]
	} else {
		hits = nil
	}
	if len(hits) > r.size {
		hits = hits[:r.size]
	}
	scoreSorted := len(r.sort) == 0
	for _, s := range r.sort {
		if s.field == "_score" {
			scoreSorted = true
		}
	}
	showScore := scoreSorted || r.trackScores
	var maxScore any
	if showScore && len(res.hits) > 0 {
		m := math.Inf(-1)
		for _, h := range res.hits {
			m = max(m, h.score)
		}
		maxScore = m
	}
	out := make([]any, 0, len(hits))
	for _, h := range hits {
		item := map[string]any{"_index": h.v.name, "_id": h.doc.id}
		if showScore {
			item["_score"] = h.score
		} else {
			item["_score"] = nil
		}
		if r.version {
			item["_version"] = h.doc.version
		}
		if r.seqNo {
			item["_seq_no"] = h.doc.seqNo
			item["_primary_term"] = 1
		}
		if !r.source.disabled {
			item["_source"] = filterSource(h.doc.source, r.source)
		}
		if len(r.sort) > 0 {
			vals := make([]any, len(h.sort))
			for i, sv := range h.sort {
				if strings.HasPrefix(sv.str, "\x00") {
					vals[i] = nil
				} else {
					vals[i] = sv.render
				}
			}
			item["sort"] = vals
		}
		out = append(out, item)
	}
	hitsObj := map[string]any{"max_score": maxScore, "hits": out}
	switch {
	case r.trackTotal < 0:
	case r.totalAsInt:
		hitsObj["total"] = res.total
	case res.total > r.trackTotal:
		hitsObj["total"] = map[string]any{"value": r.trackTotal, "relation": "gte"}
	default:
		hitsObj["total"] = map[string]any{"value": res.total, "relation": "eq"}
	}
	body := map[string]any{
		"took":      res.took.Milliseconds(),
		"timed_out": false,
		"_shards":   shardsHeader(res.shards, res.failures),
		"hits":      hitsObj,
	}
	if res.aggs != nil {
		body["aggregations"] = res.aggs
	}
	return body
}

func shardsHeader(total int, failures []*esError) map[string]any {
	h := map[string]any{"total": total, "successful": total - len(failures), "skipped": 0, "failed": len(failures)}
	if len(failures) > 0 {
		var fs []any
		for _, f := range failures {
			fs = append(fs, map[string]any{"shard": 0, "index": f.shardIndex, "node": nodeID, "reason": f.object()})
		}
		h["failures"] = fs
	}
	return h
}

// filterSource applies _source includes and excludes; unfiltered sources
// are returned byte for byte.
func filterSource(src json.RawMessage, sf sourceFilter) any {
	if !sf.active() {
		return src
	}
	m, err := decodeObject(src)
	if err != nil {
		return src
	}
	return filterMap("", m, sf)
}

func filterMap(prefix string, m map[string]any, sf sourceFilter) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		path := prefix + k
		if matchesAny(sf.excludes, path) {
			continue
		}
		if sub, ok := v.(map[string]any); ok {
			if len(sf.includes) == 0 || matchesAny(sf.includes, path) {
				out[k] = filterMap(path+".", sub, sourceFilter{excludes: sf.excludes})
				continue
			}
			if f := filterMap(path+".", sub, sf); len(f) > 0 {
				out[k] = f
			}
			continue
		}
		if len(sf.includes) == 0 || matchesAny(sf.includes, path) {
			out[k] = v
		}
	}
	return out
}

func matchesAny(patterns []string, path string) bool {
	for _, p := range patterns {
		if globMatch(p, path) || strings.HasPrefix(path, p+".") {
			return true
		}
	}
	return false
}
