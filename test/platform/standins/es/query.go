package es

import (
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// query is a compiled query for one index: it tells whether a document
// matches and with what score.
type query interface {
	eval(c *qctx, d *document) (bool, float64)
}

// qctx is what evaluation needs beyond the document: the searched view for
// term statistics (BM25 scores).
type qctx struct {
	docs   []*document
	dfs    map[string]int
	counts map[string]*fieldStat
}

type fieldStat struct {
	docs   int     // documents with the field
	avgLen float64 // average number of tokens (text) or values
}

func newQctx(docs []*document) *qctx {
	return &qctx{docs: docs, dfs: map[string]int{}, counts: map[string]*fieldStat{}}
}

func (c *qctx) stat(field string) *fieldStat {
	if s, ok := c.counts[field]; ok {
		return s
	}
	s := &fieldStat{}
	total := 0
	for _, d := range c.docs {
		if v := d.fields[field]; v != nil && !v.empty() {
			s.docs++
			total += valueLen(v)
		}
	}
	if s.docs > 0 {
		s.avgLen = float64(total) / float64(s.docs)
	}
	c.counts[field] = s
	return s
}

func valueLen(v *values) int {
	n := len(v.strs) + len(v.nums) + len(v.bools)
	for _, t := range v.toks {
		n += len(t)
	}
	return n
}

// bm25 scores a term found tf times in a field of document d, as Lucene's
// BM25 similarity does (k1 1.2, b 0.75), with exact rather than encoded
// field lengths.
func (c *qctx) bm25(field, term string, tf int, d *document, df func(*document) bool) float64 {
	key := field + "\x00" + term
	n, ok := c.dfs[key]
	if !ok {
		for _, doc := range c.docs {
			if df(doc) {
				n++
			}
		}
		c.dfs[key] = n
	}
	st := c.stat(field)
	N := float64(max(st.docs, n, 1))
	idf := math.Log(1 + (N-float64(n)+0.5)/(float64(n)+0.5))
	const k1, b = 1.2, 0.75
	dl := float64(valueLen(d.fields[field]))
	avg := st.avgLen
	if avg == 0 {
		avg = 1
	}
	f := float64(tf)
	return idf * f * (k1 + 1) / (f + k1*(1-b+b*dl/avg))
}

// shardError marks a query error that Elasticsearch reports as the failure
// of every shard (search_phase_execution_exception) rather than as a
// malformed request.
func shardError(format string, args ...any) *esError {
	return shardFailure("query_shard_exception", format, args...)
}

// shardFailure is a shard-level error of another type.
func shardFailure(typ, format string, args ...any) *esError {
	e := errf(http.StatusBadRequest, typ, format, args...)
	e.shardIndex = "?"
	return e
}

// compiler compiles queries against one index's mapping.
type compiler struct {
	m   *mapping
	ix  string
	now time.Time
	// defaultFields is index.query.default_field.
	defaultFields []string
}

func (qc *compiler) compile(raw any) (query, error) {
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, parsingError("[_na] query malformed, must start with start_object")
	}
	if len(obj) == 0 {
		return matchAllQ{boost: 1}, nil
	}
	if len(obj) > 1 {
		keys := sortedKeys(obj)
		return nil, parsingError("[%s] malformed query, expected [END_OBJECT] but found [FIELD_NAME]", keys[0])
	}
	for name, body := range obj {
		return qc.compileNamed(name, body)
	}
	return nil, nil
}

var unsupportedQueries = map[string]bool{
	"nested": true, "has_child": true, "has_parent": true, "parent_id": true, "function_score": true, "script": true,
	"script_score": true, "geo_bounding_box": true, "geo_distance": true, "geo_polygon": true, "geo_shape": true,
	"shape": true, "more_like_this": true, "terms_set": true, "intervals": true, "distance_feature": true,
	"pinned": true, "span_term": true, "span_near": true, "span_or": true, "span_not": true, "span_first": true,
	"span_multi": true, "span_containing": true, "span_within": true, "field_masking_span": true, "wrapper": true,
	"percolate": true, "knn": true, "rank_feature": true, "combined_fields": true, "semantic": true,
	"sparse_vector": true, "text_expansion": true, "weighted_tokens": true, "rule": true, "match_bool_prefix": true,
}

func (qc *compiler) compileNamed(name string, body any) (query, error) {
	switch name {
	case "match_all":
		o, _ := body.(map[string]any)
		return matchAllQ{boost: boostOf(o)}, nil
	case "match_none":
		return matchNoneQ{}, nil
	case "bool":
		return qc.compileBool(body)
	case "term":
		return qc.compileTerm(body)
	case "terms":
		return qc.compileTerms(body)
	case "range":
		return qc.compileRange(body)
	case "exists":
		o, _ := body.(map[string]any)
		f, _ := o["field"].(string)
		if f == "" {
			return nil, parsingError("[exists] must be provided with a [field]")
		}
		return existsQ{field: f, boost: boostOf(o)}, nil
	case "ids":
		o, _ := body.(map[string]any)
		list, _ := o["values"].([]any)
		set := map[string]bool{}
		for _, v := range list {
			s, _ := scalarText(v)
			set[s] = true
		}
		return idsQ{ids: set, boost: boostOf(o)}, nil
	case "prefix", "wildcard", "regexp", "fuzzy":
		return qc.compileMultiTerm(name, body)
	case "match", "match_phrase", "match_phrase_prefix":
		return qc.compileMatch(name, body)
	case "multi_match":
		return qc.compileMultiMatch(body)
	case "simple_query_string":
		return qc.compileSimpleQueryString(body)
	case "query_string":
		return qc.compileQueryString(body)
	case "constant_score":
		o, _ := body.(map[string]any)
		inner, ok := o["filter"]
		if !ok {
			return nil, parsingError("[constant_score] requires a 'filter' element")
		}
		q, err := qc.compile(inner)
		if err != nil {
			return nil, err
		}
		return constantQ{q: q, boost: boostOf(o)}, nil
	case "dis_max":
		o, _ := body.(map[string]any)
		list, _ := o["queries"].([]any)
		if len(list) == 0 {
			return nil, parsingError("[dis_max] requires 'queries' field with at least one clause")
		}
		var qs []query
		for _, r := range list {
			q, err := qc.compile(r)
			if err != nil {
				return nil, err
			}
			qs = append(qs, q)
		}
		tie, _ := floatValue(o["tie_breaker"])
		return disMaxQ{qs: qs, tie: tie, boost: boostOf(o)}, nil
	case "boosting":
		o, _ := body.(map[string]any)
		pos, err := qc.compile(o["positive"])
		if err != nil {
			return nil, err
		}
		neg, err := qc.compile(o["negative"])
		if err != nil {
			return nil, err
		}
		nb, ok := floatValue(o["negative_boost"])
		if !ok {
			return nil, parsingError("[boosting] query requires 'negative_boost' to be set to be a positive value'")
		}
		return boostingQ{pos: pos, neg: neg, negBoost: nb}, nil
	}
	if unsupportedQueries[name] {
		return nil, unsupported("[%s] query", name)
	}
	return nil, parsingError("unknown query [%s]", name)
}

func boostOf(o map[string]any) float64 {
	if b, ok := floatValue(o["boost"]); ok {
		return b
	}
	return 1
}

// fieldBody splits {"field": value} or {"field": {...}, "boost": ...}.
func fieldBody(qname string, body any) (string, any, error) {
	o, ok := body.(map[string]any)
	if !ok {
		return "", nil, parsingError("[%s] query malformed, no start_object after query name", qname)
	}
	var field string
	var val any
	for k, v := range o {
		if k == "boost" || k == "_name" {
			continue
		}
		if field != "" {
			return "", nil, parsingError("[%s] query doesn't support multiple fields, found [%s] and [%s]", qname, min(field, k), max(field, k))
		}
		field, val = k, v
	}
	if field == "" {
		return "", nil, parsingError("[%s] query malformed, no field", qname)
	}
	return field, val, nil
}

func (qc *compiler) compileBool(body any) (query, error) {
	o, ok := body.(map[string]any)
	if !ok {
		return nil, parsingError("[bool] query malformed, no start_object after query name")
	}
	b := boolQ{boost: boostOf(o), msm: -1}
	for k, v := range o {
		var dst *[]query
		switch k {
		case "must":
			dst = &b.must
		case "filter":
			dst = &b.filter
		case "should":
			dst = &b.should
		case "must_not":
			dst = &b.mustNot
		case "minimum_should_match":
			b.msmRaw = v
			continue
		case "boost", "_name", "adjust_pure_negative":
			continue
		default:
			return nil, parsingError("[bool] query does not support [%s]", k)
		}
		var list []any
		switch x := v.(type) {
		case []any:
			list = x
		case map[string]any:
			list = []any{x}
		default:
			return nil, parsingError("[bool] query does not support [%s]", k)
		}
		for _, r := range list {
			q, err := qc.compile(r)
			if err != nil {
				return nil, err
			}
			*dst = append(*dst, q)
		}
	}
	if b.msmRaw != nil {
		n, err := minimumShouldMatch(b.msmRaw, len(b.should))
		if err != nil {
			return nil, err
		}
		b.msm = n
	}
	return b, nil
}

// minimumShouldMatch reads 2, -1, "75%", "-25%".
func minimumShouldMatch(v any, optional int) (int, error) {
	s, _ := scalarText(v)
	s = strings.TrimSpace(s)
	if strings.Contains(s, "<") {
		return 0, unsupported("conditional minimum_should_match [%s]", s)
	}
	var n int
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil {
			return 0, badRequest("failed to parse minimum_should_match [%s]", s)
		}
		n = int(float64(optional) * f / 100)
		if f < 0 {
			n = optional + int(float64(optional)*f/100)
		}
	} else {
		i, err := strconv.Atoi(s)
		if err != nil {
			return 0, badRequest("failed to parse minimum_should_match [%s]", s)
		}
		n = i
		if i < 0 {
			n = optional + i
		}
	}
	return max(0, min(n, optional)), nil
}

// Leaf matching against one field's values.

// termMatcher tests a field's values; it returns how many values matched
// (the term frequency).
type termMatcher func(v *values) int

func (qc *compiler) leaf(field string) *fieldMapping {
	return qc.m.leaves[field]
}

func isText(f *fieldMapping) bool { return f.Type == "text" || f.Type == "match_only_text" }

// exactMatcher matches the value as a term query does on this field type.
// A value that does not fit the type is a shard failure, or no match when
// lenient.
func (qc *compiler) exactMatcher(field string, f *fieldMapping, raw any, caseInsensitive, lenient bool) (termMatcher, error) {
	s, ok := scalarText(raw)
	if !ok {
		return nil, parsingError("[term] query does not support array of values")
	}
	switch {
	case f.Type == "keyword" || f.Type == "ip":
		if f.Normalizer == "lowercase" {
			s = strings.ToLower(s)
		}
		return func(v *values) int {
			n := 0
			for _, x := range v.strs {
				if x == s || caseInsensitive && strings.EqualFold(x, s) {
					n++
				}
			}
			return n
		}, nil
	case isText(f):
		return func(v *values) int {
			n := 0
			for _, toks := range v.toks {
				for _, t := range toks {
					if t == s || caseInsensitive && strings.EqualFold(t, s) {
						n++
					}
				}
			}
			return n
		}, nil
	case f.Type == "date":
		lo, err1 := f.format.parse(s, false, nil)
		hi, err2 := f.format.parse(s, true, nil)
		if err1 != nil || err2 != nil {
			if lenient {
				return func(*values) int { return 0 }, nil
			}
			return nil, shardError("failed to create query: failed to parse date field [%s] with format [%s]", s, f.format.spec)
		}
		return numRange(float64(lo), float64(hi)), nil
	case f.Type == "boolean":
		var want bool
		switch s {
		case "true":
			want = true
		case "false", "":
		default:
			if lenient {
				return func(*values) int { return 0 }, nil
			}
			return nil, shardError("failed to create query: Can't parse boolean value [%s], expected [true] or [false]", s)
		}
		return func(v *values) int {
			n := 0
			for _, b := range v.bools {
				if b == want {
					n++
				}
			}
			return n
		}, nil
	default:
		n, err := parseNumber(f, s)
		if err != nil {
			if lenient {
				return func(*values) int { return 0 }, nil
			}
			return nil, shardError("failed to create query: For input string: \"%s\"", s)
		}
		return numRange(n, n), nil
	}
}

func numRange(lo, hi float64) termMatcher {
	return func(v *values) int {
		n := 0
		for _, x := range v.nums {
			if x >= lo && x <= hi {
				n++
			}
		}
		return n
	}
}

func (qc *compiler) compileTerm(body any) (query, error) {
	field, val, err := fieldBody("term", body)
	if err != nil {
		return nil, err
	}
	boost, ci := 1.0, false
	if o, ok := val.(map[string]any); ok {
		boost = boostOf(o)
		ci, _ = o["case_insensitive"].(bool)
		v, ok := o["value"]
		if !ok {
			return nil, parsingError("[term] query does not support [%s]", strings.Join(sortedKeys(o), ", "))
		}
		val = v
	}
	if field == "_id" {
		s, _ := scalarText(val)
		return idsQ{ids: map[string]bool{s: true}, boost: boost}, nil
	}
	if field == "_index" {
		s, _ := scalarText(val)
		if globMatch(s, qc.ix) {
			return matchAllQ{boost: boost}, nil
		}
		return matchNoneQ{}, nil
	}
	f := qc.leaf(field)
	if f == nil {
		return matchNoneQ{}, nil
	}
	if !f.Index && !f.DocValues {
		return nil, shardError("failed to create query: Cannot search on field [%s] since it is not indexed nor has doc values.", field)
	}
	m, err := qc.exactMatcher(field, f, val, ci, false)
	if err != nil {
		return nil, err
	}
	s, _ := scalarText(val)
	scored := f.Type == "keyword" || isText(f)
	return termQ{field: field, term: s, m: m, boost: boost, scored: scored}, nil
}

func (qc *compiler) compileTerms(body any) (query, error) {
	o, ok := body.(map[string]any)
	if !ok {
		return nil, parsingError("[terms] query malformed")
	}
	var field string
	var list []any
	for k, v := range o {
		if k == "boost" || k == "_name" {
			continue
		}
		if field != "" {
			return nil, parsingError("[terms] query does not support multiple fields")
		}
		field = k
		switch x := v.(type) {
		case []any:
			list = x
		case map[string]any:
			return nil, unsupported("terms lookup")
		default:
			return nil, parsingError("[terms] query does not support [%s]", k)
		}
	}
	if field == "" {
		return nil, parsingError("[terms] query requires a field")
	}
	if field == "_id" {
		set := map[string]bool{}
		for _, v := range list {
			s, _ := scalarText(v)
			set[s] = true
		}
		return idsQ{ids: set, boost: boostOf(o)}, nil
	}
	f := qc.leaf(field)
	if f == nil {
		return matchNoneQ{}, nil
	}
	var ms []termMatcher
	for _, v := range list {
		m, err := qc.exactMatcher(field, f, v, false, false)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return fieldPredQ{field: field, boost: boostOf(o), pred: func(v *values) bool {
		for _, m := range ms {
			if m(v) > 0 {
				return true
			}
		}
		return false
	}}, nil
}

func (qc *compiler) compileRange(body any) (query, error) {
	field, val, err := fieldBody("range", body)
	if err != nil {
		return nil, err
	}
	o, ok := val.(map[string]any)
	if !ok {
		return nil, parsingError("[range] query malformed, after field missing start object")
	}
	var lower, upper any
	inclLower, inclUpper := true, true
	var format, tz string
	for k, v := range o {
		switch k {
		case "gte":
			lower, inclLower = v, true
		case "gt":
			lower, inclLower = v, false
		case "lte":
			upper, inclUpper = v, true
		case "lt":
			upper, inclUpper = v, false
		case "from":
			lower = v
		case "to":
			upper = v
		case "include_lower":
			inclLower, _ = v.(bool)
		case "include_upper":
			inclUpper, _ = v.(bool)
		case "format":
			format, _ = v.(string)
		case "time_zone":
			tz, _ = v.(string)
		case "relation":
			if r, _ := v.(string); r != "" && !strings.EqualFold(r, "intersects") {
				return nil, unsupported("range relation [%s]", r)
			}
		case "boost", "_name":
		default:
			return nil, parsingError("[range] query does not support [%s]", k)
		}
	}
	boost := boostOf(o)
	f := qc.leaf(field)
	if f == nil {
		return matchNoneQ{}, nil
	}
	switch {
	case f.Type == "date":
		df := f.format
		if format != "" {
			if df, err = parseDateFormat(format); err != nil {
				return nil, parsingError("[range] %v", err)
			}
		}
		loc, err := parseZone(tz)
		if err != nil {
			return nil, err
		}
		lo, hi := math.Inf(-1), math.Inf(1)
		if lower != nil {
			s, _ := scalarText(lower)
			ms, err := parseDateMath(s, df, !inclLower, qc.now, loc) // gt rounds up
			if err != nil {
				return nil, shardError("failed to create query: %v", err)
			}
			lo = float64(ms)
			if !inclLower {
				lo = math.Nextafter(lo, math.Inf(1))
			}
		}
		if upper != nil {
			s, _ := scalarText(upper)
			ms, err := parseDateMath(s, df, inclUpper, qc.now, loc) // lte rounds up
			if err != nil {
				return nil, shardError("failed to create query: %v", err)
			}
			hi = float64(ms)
			if !inclUpper {
				hi = math.Nextafter(hi, math.Inf(-1))
			}
		}
		return fieldPredQ{field: field, boost: boost, pred: func(v *values) bool { return numRange(lo, hi)(v) > 0 }}, nil
	case numericTypes[f.Type]:
		lo, hi := math.Inf(-1), math.Inf(1)
		if lower != nil {
			s, _ := scalarText(lower)
			n, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, shardError("failed to create query: For input string: \"%s\"", s)
			}
			lo = n
			if !inclLower {
				lo = math.Nextafter(lo, math.Inf(1))
			}
		}
		if upper != nil {
			s, _ := scalarText(upper)
			n, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, shardError("failed to create query: For input string: \"%s\"", s)
			}
			hi = n
			if !inclUpper {
				hi = math.Nextafter(hi, math.Inf(-1))
			}
		}
		return fieldPredQ{field: field, boost: boost, pred: func(v *values) bool { return numRange(lo, hi)(v) > 0 }}, nil
	default: // strings: keyword, ip, text tokens, booleans as "false" < "true"
		var ls, us string
		hasL, hasU := lower != nil, upper != nil
		if hasL {
			ls, _ = scalarText(lower)
		}
		if hasU {
			us, _ = scalarText(upper)
		}
		in := func(x string) bool {
			if hasL && (x < ls || !inclLower && x == ls) {
				return false
			}
			if hasU && (x > us || !inclUpper && x == us) {
				return false
			}
			return true
		}
		inStrings := stringPred(in)
		return fieldPredQ{field: field, boost: boost, pred: func(v *values) bool {
			if inStrings(v) {
				return true
			}
			for _, b := range v.bools {
				if in(strconv.FormatBool(b)) {
					return true
				}
			}
			return false
		}}, nil
	}
}

// compileMultiTerm handles prefix, wildcard, regexp and fuzzy.
func (qc *compiler) compileMultiTerm(kind string, body any) (query, error) {
	field, val, err := fieldBody(kind, body)
	if err != nil {
		return nil, err
	}
	boost, ci := 1.0, false
	fuzziness := any("AUTO")
	prefixLen := 0
	if o, ok := val.(map[string]any); ok {
		boost = boostOf(o)
		ci, _ = o["case_insensitive"].(bool)
		if fz, ok := o["fuzziness"]; ok {
			fuzziness = fz
		}
		prefixLen, _ = intValue(o["prefix_length"])
		v, ok := o["value"]
		if !ok && kind == "wildcard" {
			v, ok = o["wildcard"]
		}
		if !ok {
			return nil, parsingError("[%s] query does not support [%s]", kind, strings.Join(sortedKeys(o), ", "))
		}
		val = v
	}
	s, _ := scalarText(val)
	f := qc.leaf(field)
	if field == "_id" {
		f = &fieldMapping{Type: "keyword"}
	}
	if f == nil {
		return matchNoneQ{}, nil
	}
	if f.Type != "keyword" && f.Type != "ip" && !isText(f) {
		return nil, shardError("failed to create query: Can only use %s queries on keyword and text fields - not on [%s] which is of type [%s]", kind, field, f.Type)
	}
	if f.Normalizer == "lowercase" {
		s = strings.ToLower(s)
	}
	var pred func(string) bool
	switch kind {
	case "prefix":
		pred = func(x string) bool {
			if ci {
				return len(x) >= len(s) && strings.EqualFold(x[:len(s)], s)
			}
			return strings.HasPrefix(x, s)
		}
	case "wildcard":
		re, err := regexp.Compile(wildcardRegexp(s, ci))
		if err != nil {
			return nil, shardError("failed to create query: %v", err)
		}
		pred = re.MatchString
	case "regexp":
		expr := "^(?:" + s + ")$"
		if ci {
			expr = "(?i)" + expr
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, shardError("failed to create query: %v", err)
		}
		pred = re.MatchString
	case "fuzzy":
		maxEdits := fuzzyEdits(fuzziness, s)
		pred = func(x string) bool {
			rs, rx := []rune(s), []rune(x)
			if prefixLen > 0 && (len(rx) < prefixLen || len(rs) < prefixLen || string(rx[:prefixLen]) != string(rs[:prefixLen])) {
				return false
			}
			return editDistance(rs, rx, maxEdits) <= maxEdits
		}
	}
	if field == "_id" {
		return idPredQ{pred: pred, boost: boost}, nil
	}
	return fieldPredQ{field: field, boost: boost, pred: stringPred(pred)}, nil
}

func stringPred(pred func(string) bool) func(v *values) bool {
	return func(v *values) bool {
		for _, x := range v.strs {
			if pred(x) {
				return true
			}
		}
		for _, toks := range v.toks {
			for _, t := range toks {
				if pred(t) {
					return true
				}
			}
		}
		return false
	}
}

func wildcardRegexp(s string, ci bool) string {
	var b strings.Builder
	if ci {
		b.WriteString("(?i)")
	}
	b.WriteString("^")
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteString(regexp.QuoteMeta(string(s[i])))
			}
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return b.String()
}

// fuzzyEdits reads fuzziness: 0, 1, 2 or AUTO (0 for one or two
// characters, 1 up to five, 2 beyond).
func fuzzyEdits(f any, term string) int {
	s, _ := scalarText(f)
	if n, err := strconv.Atoi(s); err == nil {
		return min(max(n, 0), 2)
	}
	n := len([]rune(term))
	switch {
	case n <= 2:
		return 0
	case n <= 5:
		return 1
	}
	return 2
}

// editDistance is the optimal string alignment distance (Damerau with
// adjacent transpositions), stopping early past limit.
func editDistance(a, b []rune, limit int) int {
	if d := len(a) - len(b); d > limit || -d > limit {
		return limit + 1
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// Full-text queries.

type matchOpts struct {
	operator  string // "or" or "and"
	msm       any
	fuzziness any
	lenient   bool
	zeroAll   bool
	analyzer  string
	slop      int
	boost     float64
}

func parseMatchOpts(qname string, o map[string]any) (matchOpts, error) {
	mo := matchOpts{operator: "or", boost: boostOf(o)}
	for k, v := range o {
		switch k {
		case "query", "boost", "_name", "fields", "type", "tie_breaker", "auto_generate_synonyms_phrase_query",
			"max_expansions", "prefix_length", "fuzzy_transpositions", "fuzzy_rewrite", "cutoff_frequency":
		case "operator":
			s, _ := v.(string)
			mo.operator = strings.ToLower(s)
			if mo.operator != "or" && mo.operator != "and" {
				return mo, badRequest("No enum constant org.elasticsearch.index.query.Operator.%s", strings.ToUpper(s))
			}
		case "minimum_should_match":
			mo.msm = v
		case "fuzziness":
			mo.fuzziness = v
		case "lenient":
			mo.lenient, _ = v.(bool)
		case "zero_terms_query":
			s, _ := v.(string)
			mo.zeroAll = strings.EqualFold(s, "all")
		case "analyzer":
			s, _ := v.(string)
			if !knownAnalyzer(s) {
				return mo, badRequest("[%s] analyzer [%s] not found", qname, s)
			}
			mo.analyzer = s
		case "slop":
			mo.slop, _ = intValue(v)
		default:
			return mo, parsingError("[%s] query does not support [%s]", qname, k)
		}
	}
	return mo, nil
}

func (qc *compiler) compileMatch(kind string, body any) (query, error) {
	field, val, err := fieldBody(kind, body)
	if err != nil {
		return nil, err
	}
	o, ok := val.(map[string]any)
	if !ok {
		o = map[string]any{"query": val}
	}
	text, ok := scalarText(o["query"])
	if !ok {
		return nil, parsingError("[%s] requires query value", kind)
	}
	mo, err := parseMatchOpts(kind, o)
	if err != nil {
		return nil, err
	}
	return qc.matchField(kind, field, text, mo)
}

// matchField builds a match, match_phrase or match_phrase_prefix on one
// field; nil means the text analyzed to no terms (zero_terms_query none).
func (qc *compiler) matchField(kind, field, text string, mo matchOpts) (query, error) {
	f := qc.leaf(field)
	if f == nil {
		return matchNoneQ{}, nil
	}
	if !isText(f) {
		if kind == "match_phrase_prefix" && (f.Type == "keyword") {
			return fieldPredQ{field: field, boost: mo.boost, pred: stringPred(func(x string) bool { return strings.HasPrefix(x, text) })}, nil
		}
		if mo.fuzziness != nil && f.Type == "keyword" {
			edits := fuzzyEdits(mo.fuzziness, text)
			return fieldPredQ{field: field, boost: mo.boost, pred: stringPred(func(x string) bool {
				return editDistance([]rune(text), []rune(x), edits) <= edits
			})}, nil
		}
		m, err := qc.exactMatcher(field, f, text, false, mo.lenient)
		if err != nil {
			return nil, err
		}
		return termQ{field: field, term: text, m: m, boost: mo.boost, scored: f.Type == "keyword"}, nil
	}
	analyzer := f.SearchAnalyzer
	if analyzer == "" {
		analyzer = f.Analyzer
	}
	if mo.analyzer != "" {
		analyzer = mo.analyzer
	}
	toks := analyze(analyzer, text)
	if len(toks) == 0 {
		if mo.zeroAll {
			return matchAllQ{boost: mo.boost}, nil
		}
		return matchNoneQ{}, nil
	}
	switch kind {
	case "match_phrase", "match_phrase_prefix":
		return phraseQ{field: field, toks: toks, slop: mo.slop, prefix: kind == "match_phrase_prefix", boost: mo.boost}, nil
	}
	var clauses []query
	for _, t := range toks {
		t := t
		var m termMatcher
		if mo.fuzziness != nil {
			edits := fuzzyEdits(mo.fuzziness, t)
			m = func(v *values) int {
				n := 0
				for _, toks := range v.toks {
					for _, x := range toks {
						if editDistance([]rune(t), []rune(x), edits) <= edits {
							n++
						}
					}
				}
				return n
			}
		} else {
			m, _ = qc.exactMatcher(field, f, t, false, true)
		}
		clauses = append(clauses, termQ{field: field, term: t, m: m, boost: 1, scored: true})
	}
	if len(clauses) == 1 {
		c := clauses[0].(termQ)
		c.boost = mo.boost
		return c, nil
	}
	b := boolQ{boost: mo.boost, msm: -1}
	if mo.operator == "and" {
		b.must = clauses
	} else {
		b.should = clauses
		if mo.msm != nil {
			n, err := minimumShouldMatch(mo.msm, len(clauses))
			if err != nil {
				return nil, err
			}
			b.msm = n
		}
	}
	return b, nil
}

// expandFields resolves field patterns (with ^boost) against the mapping.
func (qc *compiler) expandFields(patterns []string) (map[string]float64, bool) {
	out := map[string]float64{}
	wildcard := false
	for _, p := range patterns {
		boost := 1.0
		if name, b, ok := strings.Cut(p, "^"); ok {
			p = name
			if f, err := strconv.ParseFloat(b, 64); err == nil {
				boost = f
			}
		}
		if strings.Contains(p, "*") {
			wildcard = true
			for name, f := range qc.m.leaves {
				if globMatch(p, name) && f.Index {
					out[name] = boost
				}
			}
			continue
		}
		if qc.m.leaves[p] != nil {
			out[p] = boost
		}
	}
	return out, wildcard
}

func stringList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func (qc *compiler) compileMultiMatch(body any) (query, error) {
	o, ok := body.(map[string]any)
	if !ok {
		return nil, parsingError("[multi_match] query malformed")
	}
	text, ok := scalarText(o["query"])
	if !ok {
		return nil, parsingError("[multi_match] requires query value")
	}
	mo, err := parseMatchOpts("multi_match", o)
	if err != nil {
		return nil, err
	}
	typ, _ := o["type"].(string)
	kind := "match"
	switch typ {
	case "", "best_fields", "most_fields":
	case "phrase":
		kind = "match_phrase"
	case "phrase_prefix":
		kind = "match_phrase_prefix"
	default:
		return nil, unsupported("multi_match type [%s]", typ)
	}
	patterns := stringList(o["fields"])
	if patterns == nil {
		patterns = qc.defaultFields
	}
	fields, wildcard := qc.expandFields(patterns)
	mo.lenient = mo.lenient || wildcard
	tie, _ := floatValue(o["tie_breaker"])
	if typ == "most_fields" {
		tie = 1
	}
	var qs []query
	for _, name := range sortedKeys(fields) {
		fmo := mo
		fmo.boost = fields[name]
		q, err := qc.matchField(kind, name, text, fmo)
		if err != nil {
			return nil, err
		}
		qs = append(qs, q)
	}
	if len(qs) == 0 {
		return matchNoneQ{}, nil
	}
	return disMaxQ{qs: qs, tie: tie, boost: mo.boost}, nil
}

// Query nodes.

type matchAllQ struct{ boost float64 }

func (q matchAllQ) eval(*qctx, *document) (bool, float64) { return true, q.boost }

type matchNoneQ struct{}

func (matchNoneQ) eval(*qctx, *document) (bool, float64) { return false, 0 }

type boolQ struct {
	must, filter, should, mustNot []query
	msm                           int // -1: the default
	msmRaw                        any
	boost                         float64
}

func (q boolQ) eval(c *qctx, d *document) (bool, float64) {
	score := 0.0
	for _, m := range q.must {
		ok, s := m.eval(c, d)
		if !ok {
			return false, 0
		}
		score += s
	}
	for _, f := range q.filter {
		if ok, _ := f.eval(c, d); !ok {
			return false, 0
		}
	}
	for _, n := range q.mustNot {
		if ok, _ := n.eval(c, d); ok {
			return false, 0
		}
	}
	need := q.msm
	if need < 0 {
		need = 0
		if len(q.must) == 0 && len(q.filter) == 0 && len(q.should) > 0 {
			need = 1
		}
	}
	matched := 0
	for _, sq := range q.should {
		if ok, s := sq.eval(c, d); ok {
			matched++
			score += s
		}
	}
	if matched < need {
		return false, 0
	}
	if len(q.must) == 0 && len(q.should) == 0 && len(q.filter) == 0 {
		score = 1 // only must_not, or empty: match_all
	}
	return true, score * q.boost
}

type termQ struct {
	field  string
	term   string
	m      termMatcher
	boost  float64
	scored bool
}

func (q termQ) eval(c *qctx, d *document) (bool, float64) {
	v := d.fields[q.field]
	if v == nil {
		return false, 0
	}
	tf := q.m(v)
	if tf == 0 {
		return false, 0
	}
	if !q.scored {
		return true, q.boost
	}
	return true, q.boost * c.bm25(q.field, q.term, tf, d, func(doc *document) bool {
		dv := doc.fields[q.field]
		return dv != nil && q.m(dv) > 0
	})
}

// fieldPredQ is a constant-score test of one field's values.
type fieldPredQ struct {
	field string
	pred  func(v *values) bool
	boost float64
}

func (q fieldPredQ) eval(_ *qctx, d *document) (bool, float64) {
	v := d.fields[q.field]
	if v == nil || !q.pred(v) {
		return false, 0
	}
	return true, q.boost
}

type existsQ struct {
	field string
	boost float64
}

func (q existsQ) eval(_ *qctx, d *document) (bool, float64) {
	if v := d.fields[q.field]; v != nil && !v.empty() {
		return true, q.boost
	}
	prefix := q.field + "."
	for k, v := range d.fields {
		if strings.HasPrefix(k, prefix) && !v.empty() {
			return true, q.boost
		}
	}
	return false, 0
}

type idsQ struct {
	ids   map[string]bool
	boost float64
}

func (q idsQ) eval(_ *qctx, d *document) (bool, float64) {
	if q.ids[d.id] {
		return true, q.boost
	}
	return false, 0
}

type idPredQ struct {
	pred  func(string) bool
	boost float64
}

func (q idPredQ) eval(_ *qctx, d *document) (bool, float64) {
	if q.pred(d.id) {
		return true, q.boost
	}
	return false, 0
}

type constantQ struct {
	q     query
	boost float64
}

func (q constantQ) eval(c *qctx, d *document) (bool, float64) {
	if ok, _ := q.q.eval(c, d); ok {
		return true, q.boost
	}
	return false, 0
}

type notQ struct{ q query }

// notQ matches what q does not (Lucene's MUST_NOT beside a match_all).
func (q notQ) eval(c *qctx, d *document) (bool, float64) {
	if ok, _ := q.q.eval(c, d); ok {
		return false, 0
	}
	return true, 1
}

type disMaxQ struct {
	qs    []query
	tie   float64
	boost float64
}

func (q disMaxQ) eval(c *qctx, d *document) (bool, float64) {
	best, sum, any := 0.0, 0.0, false
	for _, sq := range q.qs {
		if ok, s := sq.eval(c, d); ok {
			any = true
			sum += s
			best = max(best, s)
		}
	}
	if !any {
		return false, 0
	}
	return true, (best + q.tie*(sum-best)) * q.boost
}

type boostingQ struct {
	pos, neg query
	negBoost float64
}

func (q boostingQ) eval(c *qctx, d *document) (bool, float64) {
	ok, s := q.pos.eval(c, d)
	if !ok {
		return false, 0
	}
	if n, _ := q.neg.eval(c, d); n {
		s *= q.negBoost
	}
	return true, s
}

// phraseQ matches tokens in order within one value, with up to slop extra
// positions between them; prefix makes the last token a prefix.
type phraseQ struct {
	field  string
	toks   []string
	slop   int
	prefix bool
	boost  float64
}

func (q phraseQ) eval(c *qctx, d *document) (bool, float64) {
	v := d.fields[q.field]
	if v == nil {
		return false, 0
	}
	tf := 0
	for _, toks := range v.toks {
		for start := range toks {
			if q.matchAt(toks, start) {
				tf++
			}
		}
	}
	if tf == 0 {
		return false, 0
	}
	score := 0.0
	for _, t := range q.toks {
		t := t
		score += c.bm25(q.field, t, tf, d, func(doc *document) bool {
			dv := doc.fields[q.field]
			if dv == nil {
				return false
			}
			for _, toks := range dv.toks {
				for _, x := range toks {
					if x == t {
						return true
					}
				}
			}
			return false
		})
	}
	return true, score * q.boost
}

func (q phraseQ) matchAt(toks []string, start int) bool {
	pos := start
	gaps := 0
	for i, want := range q.toks {
		last := i == len(q.toks)-1
		found := false
		for pos < len(toks) {
			got := toks[pos]
			pos++
			if got == want || last && q.prefix && strings.HasPrefix(got, want) {
				found = true
				break
			}
			if i == 0 {
				return false
			}
			gaps++
			if gaps > q.slop {
				return false
			}
		}
		if !found {
			return false
		}
	}
	return true
}
