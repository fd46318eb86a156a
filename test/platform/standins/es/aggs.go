package es

import (
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

const maxBuckets = 65536

// aggNode is one requested aggregation.
type aggNode struct {
	name string
	kind string
	body map[string]any
	meta any
	subs []*aggNode
}

var unsupportedAggs = map[string]bool{
	"top_hits": true, "range": true, "date_range": true, "ip_range": true, "percentiles": true, "percentile_ranks": true,
	"composite": true, "significant_terms": true, "significant_text": true, "nested": true, "reverse_nested": true,
	"geo_distance": true, "geohash_grid": true, "geotile_grid": true, "auto_date_histogram": true, "variable_width_histogram": true,
	"rare_terms": true, "multi_terms": true, "sampler": true, "diversified_sampler": true, "adjacency_matrix": true,
	"extended_stats": true, "median_absolute_deviation": true, "weighted_avg": true, "scripted_metric": true,
	"geo_bounds": true, "geo_centroid": true, "top_metrics": true, "string_stats": true, "boxplot": true, "t_test": true,
	"bucket_script": true, "bucket_selector": true, "bucket_sort": true, "avg_bucket": true, "max_bucket": true,
	"min_bucket": true, "sum_bucket": true, "stats_bucket": true, "cumulative_sum": true, "derivative": true,
	"moving_fn": true, "serial_diff": true, "random_sampler": true, "categorize_text": true, "frequent_item_sets": true,
}

var knownAggs = map[string]bool{
	"terms": true, "date_histogram": true, "histogram": true, "filter": true, "filters": true, "cardinality": true,
	"value_count": true, "min": true, "max": true, "sum": true, "avg": true, "stats": true, "missing": true, "global": true,
}

func parseAggs(raw map[string]any) ([]*aggNode, error) {
	var out []*aggNode
	for _, name := range sortedKeys(raw) {
		if strings.ContainsAny(name, "[]>") {
			return nil, parsingError("Invalid aggregation name [%s]. Aggregation names can contain any character except '[', ']', and '>'", name)
		}
		def, ok := raw[name].(map[string]any)
		if !ok {
			return nil, parsingError("Expected [START_OBJECT] under [%s], but got a [VALUE] in [%s]", name, name)
		}
		n := &aggNode{name: name}
		for k, v := range def {
			switch {
			case k == "aggs" || k == "aggregations":
				m, ok := v.(map[string]any)
				if !ok {
					return nil, parsingError("Expected [START_OBJECT] under [%s], but got a [VALUE] in [%s]", k, name)
				}
				subs, err := parseAggs(m)
				if err != nil {
					return nil, err
				}
				n.subs = subs
			case k == "meta":
				n.meta = v
			case knownAggs[k] || unsupportedAggs[k]:
				if n.kind != "" {
					return nil, parsingError("Found two aggregation type definitions in [%s]: [%s] and [%s]", name, n.kind, k)
				}
				if unsupportedAggs[k] {
					return nil, unsupported("[%s] aggregation", k)
				}
				n.kind = k
				n.body, _ = v.(map[string]any)
				if n.body == nil {
					if k == "filter" {
						return nil, parsingError("[filter] aggregation needs a query")
					}
					n.body = map[string]any{}
				}
			default:
				return nil, parsingError("Unknown aggregation type [%s]", k)
			}
		}
		if n.kind == "" {
			return nil, parsingError("Missing definition for aggregation [%s]", name)
		}
		out = append(out, n)
	}
	return out, nil
}

// aggRun evaluates aggregations over hits.
type aggRun struct {
	typed   bool
	now     time.Time
	buckets int
	views   []*view
}

func runAggs(raw map[string]any, hits []*hit, views []*view, typed bool, now time.Time) (map[string]any, error) {
	nodes, err := parseAggs(raw)
	if err != nil {
		return nil, err
	}
	ar := &aggRun{typed: typed, now: now, views: views}
	return ar.run(nodes, hits)
}

func (ar *aggRun) run(nodes []*aggNode, hits []*hit) (map[string]any, error) {
	out := map[string]any{}
	for _, n := range nodes {
		typ, res, err := ar.one(n, hits)
		if err != nil {
			return nil, err
		}
		if n.meta != nil {
			res["meta"] = n.meta
		}
		key := n.name
		if ar.typed {
			key = typ + "#" + n.name
		}
		out[key] = res
	}
	return out, nil
}

func (ar *aggRun) bucket(into map[string]any, n *aggNode, hits []*hit) error {
	ar.buckets++
	if ar.buckets > maxBuckets {
		e := errf(http.StatusBadRequest, "too_many_buckets_exception", "Trying to create too many buckets. Must be less than or equal to: [%d] but this number of buckets was exceeded. This limit can be set by changing the [search.max_buckets] cluster level setting.", maxBuckets)
		return e.with("max_buckets", maxBuckets)
	}
	if len(n.subs) == 0 {
		return nil
	}
	subs, err := ar.run(n.subs, hits)
	if err != nil {
		return err
	}
	for k, v := range subs {
		into[k] = v
	}
	return nil
}

// fieldOf is the mapping of the field in the first index that maps it.
func (ar *aggRun) fieldOf(field string, hits []*hit) *fieldMapping {
	for _, h := range hits {
		if f := h.v.m.leaves[field]; f != nil {
			return f
		}
	}
	for _, v := range ar.views {
		if f := v.m.leaves[field]; f != nil {
			return f
		}
	}
	return nil
}

func (ar *aggRun) one(n *aggNode, hits []*hit) (string, map[string]any, error) {
	field, _ := n.body["field"].(string)
	if _, ok := n.body["script"]; ok {
		return "", nil, unsupported("aggregation scripts")
	}
	var f *fieldMapping
	if field != "" {
		f = ar.fieldOf(field, hits)
		if f != nil && isText(f) && !f.Fielddata && n.kind != "missing" && n.kind != "value_count" {
			idx := ""
			if len(ar.views) > 0 {
				idx = ar.views[0].name
			}
			return "", nil, shardFailure("illegal_argument_exception", textFielddataError, field, idx, field)
		}
	}
	switch n.kind {
	case "terms":
		return ar.terms(n, field, f, hits)
	case "date_histogram", "histogram":
		return ar.histogram(n, field, f, hits)
	case "filter":
		q := n.body
		out := map[string]any{}
		matched, err := filterHits(q, hits, ar.now)
		if err != nil {
			return "", nil, err
		}
		out["doc_count"] = len(matched)
		return "filter", out, ar.bucket(out, n, matched)
	case "filters":
		return ar.filters(n, hits)
	case "missing":
		var miss []*hit
		for _, h := range hits {
			if v := h.doc.fields[field]; v == nil || v.empty() {
				miss = append(miss, h)
			}
		}
		out := map[string]any{"doc_count": len(miss)}
		return "missing", out, ar.bucket(out, n, miss)
	case "global":
		var all []*hit
		for _, v := range ar.views {
			for _, d := range v.docs {
				all = append(all, &hit{doc: d, v: v})
			}
		}
		out := map[string]any{"doc_count": len(all)}
		return "global", out, ar.bucket(out, n, all)
	case "cardinality":
		set := map[string]bool{}
		for _, h := range hits {
			for _, k := range distinctKeys(h.doc.fields[field]) {
				set[k] = true
			}
		}
		return "cardinality", map[string]any{"value": len(set)}, nil
	case "value_count":
		c := 0
		for _, h := range hits {
			if v := h.doc.fields[field]; v != nil {
				c += valueLen(v)
			}
		}
		return "value_count", map[string]any{"value": c}, nil
	}
	// min, max, sum, avg, stats
	var nums []float64
	for _, h := range hits {
		if v := h.doc.fields[field]; v != nil {
			nums = append(nums, v.nums...)
			for _, b := range v.bools {
				nums = append(nums, map[bool]float64{true: 1, false: 0}[b])
			}
		}
	}
	if f != nil && (f.Type == "keyword" || f.Type == "ip") {
		return "", nil, badRequest("Field [%s] of type [%s] is not supported for aggregation [%s]", field, f.Type, n.kind)
	}
	sum, lo, hi := 0.0, math.Inf(1), math.Inf(-1)
	for _, x := range nums {
		sum += x
		lo, hi = min(lo, x), max(hi, x)
	}
	asString := func(out map[string]any, key string, v float64) {
		if f != nil && f.Type == "date" && !math.IsInf(v, 0) {
			out[key+"_as_string"] = f.format.format(int64(v), nil)
		}
	}
	orNull := func(v float64) any {
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil
		}
		return v
	}
	out := map[string]any{}
	switch n.kind {
	case "min":
		out["value"] = orNull(lo)
		asString(out, "value", lo)
	case "max":
		out["value"] = orNull(hi)
		asString(out, "value", hi)
	case "sum":
		out["value"] = sum
	case "avg":
		if len(nums) == 0 {
			out["value"] = nil
		} else {
			out["value"] = sum / float64(len(nums))
		}
	case "stats":
		out["count"] = len(nums)
		out["min"], out["max"] = orNull(lo), orNull(hi)
		out["sum"] = sum
		if len(nums) == 0 {
			out["avg"] = nil
		} else {
			out["avg"] = sum / float64(len(nums))
		}
		asString(out, "min", lo)
		asString(out, "max", hi)
	}
	return n.kind, out, nil
}

// filterHits keeps the hits that match a query, compiled per index.
func filterHits(raw any, hits []*hit, now time.Time) ([]*hit, error) {
	compiled := map[*view]query{}
	ctxs := map[*view]*qctx{}
	var out []*hit
	for _, h := range hits {
		q, ok := compiled[h.v]
		if !ok {
			qc := &compiler{m: h.v.m, ix: h.v.name, now: now, defaultFields: h.v.defField}
			var err error
			if q, err = qc.compile(raw); err != nil {
				return nil, err
			}
			compiled[h.v] = q
			ctxs[h.v] = newQctx(h.v.docs)
		}
		if ok, _ := q.eval(ctxs[h.v], h.doc); ok {
			out = append(out, h)
		}
	}
	return out, nil
}

func (ar *aggRun) filters(n *aggNode, hits []*hit) (string, map[string]any, error) {
	other, _ := n.body["other_bucket"].(bool)
	otherKey, _ := n.body["other_bucket_key"].(string)
	if otherKey != "" {
		other = true
	} else {
		otherKey = "_other_"
	}
	matchedAny := map[*hit]bool{}
	bucket := func(m []*hit) (map[string]any, error) {
		b := map[string]any{"doc_count": len(m)}
		return b, ar.bucket(b, n, m)
	}
	filtered := func(q any) (map[string]any, error) {
		m, err := filterHits(q, hits, ar.now)
		if err != nil {
			return nil, err
		}
		for _, h := range m {
			matchedAny[h] = true
		}
		return bucket(m)
	}
	var out map[string]any
	switch fs := n.body["filters"].(type) {
	case map[string]any:
		buckets := map[string]any{}
		for _, name := range sortedKeys(fs) {
			b, err := filtered(fs[name])
			if err != nil {
				return "", nil, err
			}
			buckets[name] = b
		}
		if other {
			b, err := bucket(unmatched(hits, matchedAny))
			if err != nil {
				return "", nil, err
			}
			buckets[otherKey] = b
		}
		out = map[string]any{"buckets": buckets}
	case []any:
		var buckets []any
		for _, q := range fs {
			b, err := filtered(q)
			if err != nil {
				return "", nil, err
			}
			buckets = append(buckets, b)
		}
		if other {
			b, err := bucket(unmatched(hits, matchedAny))
			if err != nil {
				return "", nil, err
			}
			buckets = append(buckets, b)
		}
		out = map[string]any{"buckets": buckets}
	default:
		return "", nil, parsingError("[filters] requires a [filters] object or array")
	}
	return "filters", out, nil
}

func unmatched(hits []*hit, matched map[*hit]bool) []*hit {
	var out []*hit
	for _, h := range hits {
		if !matched[h] {
			out = append(out, h)
		}
	}
	return out
}

// distinctKeys are a field's values as strings, each once.
func distinctKeys(v *values) []string {
	if v == nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, s := range v.strs {
		add(s)
	}
	for _, toks := range v.toks {
		for _, t := range toks {
			add(t)
		}
	}
	for _, n := range v.nums {
		add(strconv.FormatFloat(n, 'g', -1, 64))
	}
	for _, b := range v.bools {
		add(strconv.FormatBool(b))
	}
	return out
}

type termBucket struct {
	key   string
	num   float64
	isNum bool
	hits  []*hit
}

func (ar *aggRun) terms(n *aggNode, field string, f *fieldMapping, hits []*hit) (string, map[string]any, error) {
	size := 10
	minDoc := 1
	for k, v := range n.body {
		switch k {
		case "field", "order", "include", "exclude", "missing", "shard_size", "show_term_doc_count_error",
			"execution_hint", "collect_mode", "value_type", "format", "shard_min_doc_count":
		case "size":
			s, ok := intValue(v)
			if !ok || s < 1 {
				return "", nil, badRequest("[size] must be greater than 0. Found [%v] in [%s]", v, n.name)
			}
			size = s
		case "min_doc_count":
			minDoc, _ = intValue(v)
		default:
			return "", nil, parsingError("[terms] unknown field [%s]", k)
		}
	}
	if field == "" {
		return "", nil, badRequest("Required one of fields [field, script], but none were specified.")
	}
	typ := "sterms"
	if f != nil {
		switch {
		case f.Type == "date" || f.Type == "boolean" || isIntegerType(f.Type):
			typ = "lterms"
		case numericTypes[f.Type]:
			typ = "dterms"
		}
	}
	empty := map[string]any{"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": []any{}}
	if f == nil && n.body["missing"] == nil {
		return typ, empty, nil
	}
	keep, err := includeExclude(n.body["include"], n.body["exclude"])
	if err != nil {
		return "", nil, err
	}
	byKey := map[string]*termBucket{}
	add := func(h *hit, key string, num float64, isNum bool) {
		b := byKey[key]
		if b == nil {
			b = &termBucket{key: key, num: num, isNum: isNum}
			byKey[key] = b
		}
		if h != nil {
			b.hits = append(b.hits, h)
		}
	}
	collect := func(h *hit, d *document) {
		v := d.fields[field]
		found := false
		if v != nil {
			seen := map[string]bool{}
			for _, s := range v.strs {
				if !seen[s] && keep(s) {
					seen[s] = true
					add(h, s, 0, false)
				}
				found = true
			}
			for _, toks := range v.toks {
				for _, t := range toks {
					if !seen[t] && keep(t) {
						seen[t] = true
						add(h, t, 0, false)
					}
					found = true
				}
			}
			for _, x := range v.nums {
				k := strconv.FormatFloat(x, 'g', -1, 64)
				if !seen[k] && keep(k) {
					seen[k] = true
					add(h, k, x, true)
				}
				found = true
			}
			for _, b := range v.bools {
				x := map[bool]float64{true: 1, false: 0}[b]
				k := strconv.FormatBool(b)
				if !seen[k] && keep(k) {
					seen[k] = true
					add(h, k, x, true)
				}
				found = true
			}
		}
		if !found && n.body["missing"] != nil {
			s, _ := scalarText(n.body["missing"])
			if typ == "sterms" {
				add(h, s, 0, false)
			} else if x, err := strconv.ParseFloat(s, 64); err == nil {
				add(h, strconv.FormatFloat(x, 'g', -1, 64), x, true)
			}
		}
	}
	for _, h := range hits {
		collect(h, h.doc)
	}
	if minDoc == 0 {
		for _, v := range ar.views {
			for _, d := range v.docs {
				collect(nil, d)
			}
		}
	}
	var bs []*termBucket
	for _, b := range byKey {
		if len(b.hits) >= minDoc {
			bs = append(bs, b)
		}
	}
	less, err := bucketOrder(n.body["order"], "_count", true)
	if err != nil {
		return "", nil, err
	}
	sort.Slice(bs, func(i, j int) bool { return less(bs[i], bs[j]) })
	other := 0
	if len(bs) > size {
		for _, b := range bs[size:] {
			other += len(b.hits)
		}
		bs = bs[:size]
	}
	buckets := make([]any, 0, len(bs))
	for _, b := range bs {
		item := map[string]any{"doc_count": len(b.hits)}
		switch {
		case !b.isNum:
			item["key"] = b.key
		case typ == "lterms":
			item["key"] = int64(b.num)
			if f != nil && f.Type == "date" {
				item["key_as_string"] = f.format.format(int64(b.num), nil)
			}
			if f != nil && f.Type == "boolean" {
				item["key_as_string"] = b.key
			}
		default:
			item["key"] = b.num
		}
		if err := ar.bucket(item, n, b.hits); err != nil {
			return "", nil, err
		}
		buckets = append(buckets, item)
	}
	return typ, map[string]any{"doc_count_error_upper_bound": 0, "sum_other_doc_count": other, "buckets": buckets}, nil
}

// includeExclude reads a terms aggregation's include and exclude: a
// regular expression or a list of exact terms.
func includeExclude(inc, exc any) (func(string) bool, error) {
	mk := func(v any) (func(string) bool, error) {
		switch x := v.(type) {
		case nil:
			return nil, nil
		case string:
			re, err := regexp.Compile("^(?:" + x + ")$")
			if err != nil {
				return nil, badRequest("invalid regular expression [%s]", x)
			}
			return re.MatchString, nil
		case []any:
			set := map[string]bool{}
			for _, e := range x {
				s, _ := scalarText(e)
				set[s] = true
			}
			return func(s string) bool { return set[s] }, nil
		case map[string]any:
			return nil, unsupported("partitioned terms (include.partition)")
		}
		return nil, parsingError("[include] must be a string or an array")
	}
	in, err := mk(inc)
	if err != nil {
		return nil, err
	}
	ex, err := mk(exc)
	if err != nil {
		return nil, err
	}
	return func(s string) bool {
		return (in == nil || in(s)) && (ex == nil || !ex(s))
	}, nil
}

// bucketOrder reads "order": {"_count": "desc"}, {"_key": "asc"} or a list
// of them; ties are broken by key ascending.
func bucketOrder(raw any, defKey string, defDesc bool) (func(a, b *termBucket) bool, error) {
	type crit struct {
		key  string
		desc bool
	}
	var crits []crit
	var list []any
	switch x := raw.(type) {
	case nil:
		crits = []crit{{defKey, defDesc}}
	case map[string]any:
		list = []any{x}
	case []any:
		list = x
	default:
		return nil, parsingError("[order] must be an object or an array")
	}
	for _, e := range list {
		m, _ := e.(map[string]any)
		for k, v := range m {
			s, _ := v.(string)
			if k == "_term" {
				k = "_key"
			}
			if k != "_count" && k != "_key" {
				return nil, unsupported("ordering buckets by [%s]", k)
			}
			crits = append(crits, crit{k, strings.EqualFold(s, "desc")})
		}
	}
	keyLess := func(a, b *termBucket) int {
		switch {
		case a.isNum && b.isNum:
			if a.num < b.num {
				return -1
			} else if a.num > b.num {
				return 1
			}
			return 0
		}
		return strings.Compare(a.key, b.key)
	}
	return func(a, b *termBucket) bool {
		for _, c := range crits {
			d := 0
			if c.key == "_count" {
				d = len(a.hits) - len(b.hits)
			} else {
				d = keyLess(a, b)
			}
			if d != 0 {
				if c.desc {
					return d > 0
				}
				return d < 0
			}
		}
		return keyLess(a, b) < 0
	}, nil
}

// rounding maps a value to its bucket key and steps from key to key.
type rounding struct {
	round func(float64) float64
	next  func(float64) float64
}

func (ar *aggRun) histogram(n *aggNode, field string, f *fieldMapping, hits []*hit) (string, map[string]any, error) {
	isDate := n.kind == "date_histogram"
	minDoc := 0
	keyed := false
	var loc *time.Location = time.UTC
	var fixed, calendar, offsetStr string
	interval := 0.0
	offset := 0.0
	var extended, hard map[string]any
	for k, v := range n.body {
		switch k {
		case "field", "order", "missing", "format":
		case "fixed_interval":
			if !isDate {
				return "", nil, parsingError("[histogram] unknown field [%s]", k)
			}
			fixed, _ = v.(string)
		case "calendar_interval":
			if !isDate {
				return "", nil, parsingError("[histogram] unknown field [%s]", k)
			}
			calendar, _ = v.(string)
		case "interval":
			if isDate {
				return "", nil, parsingError("[date_histogram] unknown field [interval]")
			}
			iv, ok := floatValue(v)
			if !ok || iv <= 0 {
				return "", nil, badRequest("[interval] must be >0 for histogram aggregation [%s]", n.name)
			}
			interval = iv
		case "offset":
			if isDate {
				offsetStr, _ = scalarText(v)
			} else {
				offset, _ = floatValue(v)
			}
		case "time_zone":
			s, _ := v.(string)
			var err error
			if loc, err = parseZone(s); err != nil {
				return "", nil, err
			}
		case "min_doc_count":
			minDoc, _ = intValue(v)
		case "keyed":
			keyed, _ = v.(bool)
		case "extended_bounds":
			extended, _ = v.(map[string]any)
		case "hard_bounds":
			hard, _ = v.(map[string]any)
		default:
			return "", nil, parsingError("[%s] unknown field [%s]", n.kind, k)
		}
	}
	var r rounding
	if isDate {
		var err error
		r, err = dateRounding(fixed, calendar, offsetStr, loc)
		if err != nil {
			return "", nil, err
		}
	} else {
		if interval == 0 {
			return "", nil, badRequest("[interval] must be >0 for histogram aggregation [%s]", n.name)
		}
		r = rounding{
			round: func(x float64) float64 { return math.Floor((x-offset)/interval)*interval + offset },
			next:  func(x float64) float64 { return x + interval },
		}
	}
	if f != nil && !numericTypes[f.Type] && f.Type != "date" {
		return "", nil, badRequest("Field [%s] of type [%s] is not supported for aggregation [%s]", field, f.Type, n.kind)
	}
	var format *dateFormat
	if isDate {
		spec, _ := n.body["format"].(string)
		if spec == "" && f != nil && f.format != nil {
			format = f.format
		} else {
			var err error
			if format, err = parseDateFormat(spec); err != nil {
				return "", nil, badRequest("%v", err)
			}
		}
	}
	bound := func(v any, roundUp bool) (float64, error) {
		if isDate {
			s, _ := scalarText(v)
			ms, err := parseDateMath(s, format, roundUp, ar.now, loc)
			return float64(ms), err
		}
		x, ok := floatValue(v)
		if !ok {
			return 0, badRequest("bounds must be numbers")
		}
		return x, nil
	}
	hardLo, hardHi := math.Inf(-1), math.Inf(1)
	if hard != nil {
		if v, ok := hard["min"]; ok {
			x, err := bound(v, false)
			if err != nil {
				return "", nil, err
			}
			hardLo = x
		}
		if v, ok := hard["max"]; ok {
			x, err := bound(v, true)
			if err != nil {
				return "", nil, err
			}
			hardHi = x
		}
	}
	byKey := map[float64][]*hit{}
	for _, h := range hits {
		v := h.doc.fields[field]
		var nums []float64
		if v != nil {
			nums = v.nums
		}
		if len(nums) == 0 && n.body["missing"] != nil {
			x, err := bound(n.body["missing"], false)
			if err == nil {
				nums = []float64{x}
			}
		}
		seen := map[float64]bool{}
		for _, x := range nums {
			if x < hardLo || x > hardHi {
				continue
			}
			k := r.round(x)
			if !seen[k] {
				seen[k] = true
				byKey[k] = append(byKey[k], h)
			}
		}
	}
	var keys []float64
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Float64s(keys)
	if minDoc == 0 && (len(keys) > 0 || extended != nil) {
		lo, hi := math.Inf(1), math.Inf(-1)
		if len(keys) > 0 {
			lo, hi = keys[0], keys[len(keys)-1]
		}
		if extended != nil {
			if v, ok := extended["min"]; ok {
				x, err := bound(v, false)
				if err != nil {
					return "", nil, err
				}
				lo = min(lo, r.round(x))
			}
			if v, ok := extended["max"]; ok {
				x, err := bound(v, true)
				if err != nil {
					return "", nil, err
				}
				hi = max(hi, r.round(x))
			}
		}
		lo, hi = max(lo, r.roundOrInf(hardLo)), min(hi, hardHi)
		keys = keys[:0]
		for k := lo; k <= hi; k = r.next(k) {
			keys = append(keys, k)
			if len(keys) > maxBuckets {
				e := errf(http.StatusBadRequest, "too_many_buckets_exception", "Trying to create too many buckets. Must be less than or equal to: [%d] but this number of buckets was exceeded. This limit can be set by changing the [search.max_buckets] cluster level setting.", maxBuckets)
				return "", nil, e.with("max_buckets", maxBuckets)
			}
		}
	}
	bs := make([]*termBucket, 0, len(keys))
	for _, k := range keys {
		if len(byKey[k]) < minDoc {
			continue
		}
		bs = append(bs, &termBucket{key: strconv.FormatFloat(k, 'g', -1, 64), num: k, isNum: true, hits: byKey[k]})
	}
	less, err := bucketOrder(n.body["order"], "_key", false)
	if err != nil {
		return "", nil, err
	}
	sort.SliceStable(bs, func(i, j int) bool { return less(bs[i], bs[j]) })
	var list []any
	keyedOut := map[string]any{}
	for _, b := range bs {
		item := map[string]any{"doc_count": len(b.hits)}
		keyStr := b.key
		if isDate {
			item["key"] = int64(b.num)
			keyStr = format.format(int64(b.num), loc)
			item["key_as_string"] = keyStr
		} else {
			item["key"] = b.num
		}
		if err := ar.bucket(item, n, b.hits); err != nil {
			return "", nil, err
		}
		list = append(list, item)
		keyedOut[keyStr] = item
	}
	if list == nil {
		list = []any{}
	}
	if keyed {
		return n.kind, map[string]any{"buckets": keyedOut}, nil
	}
	return n.kind, map[string]any{"buckets": list}, nil
}

func (r rounding) roundOrInf(x float64) float64 {
	if math.IsInf(x, 0) {
		return x
	}
	return r.round(x)
}

// dateRounding builds the bucketing of a date_histogram: a fixed interval
// (ms, s, m, h, d) aligned to the epoch in the time zone, or a calendar
// unit.
func dateRounding(fixed, calendar, offsetStr string, loc *time.Location) (rounding, error) {
	if fixed == "" && calendar == "" {
		return rounding{}, badRequest("Invalid interval specified, must be non-null and non-empty")
	}
	if fixed != "" && calendar != "" {
		return rounding{}, badRequest("Cannot use [fixed_interval] with [calendar_interval] configuration option.")
	}
	var off time.Duration
	if offsetStr != "" {
		neg := strings.HasPrefix(offsetStr, "-")
		d, err := parseDuration(strings.TrimLeft(offsetStr, "+-"))
		if err != nil {
			return rounding{}, badRequest("failed to parse offset [%s]", offsetStr)
		}
		off = d
		if neg {
			off = -d
		}
	}
	offMs := float64(off.Milliseconds())
	if fixed != "" {
		d, err := parseDuration(fixed)
		if err != nil || d <= 0 || strings.HasSuffix(fixed, "w") || strings.HasSuffix(fixed, "M") || strings.HasSuffix(fixed, "y") || strings.HasSuffix(fixed, "q") {
			return rounding{}, badRequest("failed to parse setting [date_histogram.fixedInterval] with value [%s] as a time value: unit is missing or unrecognized", fixed)
		}
		step := float64(d.Milliseconds())
		if step < 1 {
			return rounding{}, badRequest("Zero or negative time interval not supported")
		}
		return rounding{
			round: func(x float64) float64 {
				_, zoneOff := time.UnixMilli(int64(x)).In(loc).Zone()
				local := x + float64(zoneOff)*1000 - offMs
				k := math.Floor(local/step)*step + offMs
				return k - float64(zoneOff)*1000
			},
			next: func(x float64) float64 { return x + step },
		}, nil
	}
	units := map[string]byte{
		"minute": 'm', "1m": 'm', "hour": 'h', "1h": 'h', "day": 'd', "1d": 'd', "week": 'w', "1w": 'w',
		"month": 'M', "1M": 'M', "quarter": 'q', "1q": 'q', "year": 'y', "1y": 'y', "second": 's', "1s": 's',
	}
	u, ok := units[calendar]
	if !ok {
		return rounding{}, badRequest("The supplied interval [%s] could not be parsed as a calendar interval.", calendar)
	}
	return rounding{
		round: func(x float64) float64 {
			t := time.UnixMilli(int64(x) - int64(offMs)).In(loc)
			start, _ := truncate(t, u)
			return float64(start.UnixMilli()) + offMs
		},
		next: func(x float64) float64 {
			t := time.UnixMilli(int64(x) - int64(offMs)).In(loc)
			var n time.Time
			if u == 'q' {
				n = t.AddDate(0, 3, 0)
			} else {
				n = addUnit(t, u, 1)
			}
			return float64(n.UnixMilli()) + offMs
		},
	}, nil
}
