package es

import (
	"encoding/json"
	"math"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// fieldMapping is one field of a mapping: a leaf (keyword, text, date,
// numbers, boolean, ip) or an object with properties.
type fieldMapping struct {
	Type            string
	Format          string
	format          *dateFormat
	IgnoreAbove     int
	Index           bool
	DocValues       bool
	Analyzer        string
	SearchAnalyzer  string
	Normalizer      string
	Fielddata       bool
	NullValue       any
	IgnoreMalformed bool
	CopyTo          []string
	ScalingFactor   float64
	Fields          map[string]*fieldMapping // multi-fields
	Properties      map[string]*fieldMapping // objects
	Dynamic         string                   // objects: "" inherits
	Enabled         bool                     // objects: false keeps the value unparsed
	Meta            map[string]any
}

// mapping is an index's mappings.
type mapping struct {
	Dynamic            string // "true", "false", "strict", "runtime"
	DateDetection      bool
	NumericDetection   bool
	DynamicDateFormats []string
	Properties         map[string]*fieldMapping
	Meta               map[string]any

	leaves  map[string]*fieldMapping // every leaf and multi-field by full path
	objects map[string]*fieldMapping // every object by full path
}

var numericTypes = map[string]bool{"long": true, "integer": true, "short": true, "byte": true, "double": true, "float": true, "half_float": true, "scaled_float": true, "unsigned_long": true}

func isIntegerType(t string) bool {
	return t == "long" || t == "integer" || t == "short" || t == "byte" || t == "unsigned_long"
}

// leafTypes are the field types the stand-in indexes; keyword-like types
// share keyword's semantics.
var leafTypes = map[string]bool{
	"keyword": true, "text": true, "match_only_text": true, "date": true, "boolean": true, "ip": true,
	"long": true, "integer": true, "short": true, "byte": true, "double": true, "float": true,
	"half_float": true, "scaled_float": true, "unsigned_long": true,
}

func newMapping() *mapping {
	m := &mapping{Dynamic: "true", DateDetection: true, Properties: map[string]*fieldMapping{}}
	m.reindex()
	return m
}

func mapperError(format string, args ...any) *esError {
	return errf(http.StatusBadRequest, "mapper_parsing_exception", format, args...)
}

// parseMapping reads a "mappings" object.
func parseMapping(raw map[string]any) (*mapping, error) {
	m := newMapping()
	if raw == nil {
		return m, nil
	}
	if d, ok := raw["_doc"].(map[string]any); ok && len(raw) == 1 {
		raw = d // a typed mapping of 7.x
	}
	for k, v := range raw {
		switch k {
		case "dynamic":
			d, err := dynamicValue(v)
			if err != nil {
				return nil, err
			}
			m.Dynamic = d
		case "date_detection":
			b, ok := boolValue(v)
			if !ok {
				return nil, mapperError("Failed to parse mapping: date_detection must be a boolean")
			}
			m.DateDetection = b
		case "numeric_detection":
			b, ok := boolValue(v)
			if !ok {
				return nil, mapperError("Failed to parse mapping: numeric_detection must be a boolean")
			}
			m.NumericDetection = b
		case "dynamic_date_formats":
			list, ok := v.([]any)
			if !ok {
				return nil, mapperError("Failed to parse mapping: dynamic_date_formats must be a list")
			}
			for _, f := range list {
				s, _ := f.(string)
				if _, err := parseDateFormat(s); err != nil {
					return nil, mapperError("Failed to parse mapping: %v", err)
				}
				m.DynamicDateFormats = append(m.DynamicDateFormats, s)
			}
		case "properties":
			props, ok := v.(map[string]any)
			if !ok {
				return nil, mapperError("Failed to parse mapping: properties must be an object")
			}
			p, err := parseProperties("", props)
			if err != nil {
				return nil, err
			}
			m.Properties = p
		case "_meta":
			meta, ok := v.(map[string]any)
			if !ok {
				return nil, mapperError("Failed to parse mapping: [_meta] must be an object")
			}
			m.Meta = meta
		case "_source":
			if src, ok := v.(map[string]any); ok {
				if e, has := src["enabled"]; has && e != true {
					return nil, unsupported("disabling _source")
				}
				if len(src) > 0 && src["enabled"] == nil {
					return nil, unsupported("_source includes, excludes or mode")
				}
			}
		case "dynamic_templates", "runtime", "_routing", "_field_names", "_data_stream_timestamp":
			if isEmpty(v) {
				continue
			}
			return nil, unsupported("mapping parameter [%s]", k)
		default:
			return nil, mapperError("Failed to parse mapping: Root mapping definition has unsupported parameters:  [%s : %s]", k, compactJSON(v))
		}
	}
	m.reindex()
	return m, nil
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func dynamicValue(v any) (string, error) {
	switch x := v.(type) {
	case bool:
		return strconv.FormatBool(x), nil
	case string:
		switch x {
		case "true", "false", "strict", "runtime":
			return x, nil
		}
	}
	return "", mapperError("Failed to parse mapping: Could not convert [dynamic] to boolean or one of [strict, runtime]")
}

func boolValue(v any) (bool, bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		b, err := strconv.ParseBool(x)
		return b, err == nil
	}
	return false, false
}

func parseProperties(prefix string, props map[string]any) (map[string]*fieldMapping, error) {
	out := map[string]*fieldMapping{}
	for name, v := range props {
		def, ok := v.(map[string]any)
		if !ok {
			return nil, mapperError("Failed to parse mapping: Expected map for property [fields] on field [%s] but got a class java.lang.String", prefix+name)
		}
		if strings.Contains(name, ".") {
			// a.b: {...} is the object a holding b.
			first, rest, _ := strings.Cut(name, ".")
			obj, ok := out[first]
			if !ok {
				obj = &fieldMapping{Type: "object", Enabled: true, Properties: map[string]*fieldMapping{}}
				out[first] = obj
			}
			sub, err := parseProperties(prefix+first+".", map[string]any{rest: def})
			if err != nil {
				return nil, err
			}
			for k, f := range sub {
				obj.Properties[k] = f
			}
			continue
		}
		f, err := parseField(prefix+name, def)
		if err != nil {
			return nil, err
		}
		out[name] = f
	}
	return out, nil
}

func parseField(path string, def map[string]any) (*fieldMapping, error) {
	f := &fieldMapping{Index: true, DocValues: true, Enabled: true}
	t, _ := def["type"].(string)
	if t == "" {
		if _, ok := def["properties"]; ok {
			t = "object"
		} else if len(def) == 0 || def["dynamic"] != nil || def["enabled"] != nil {
			t = "object"
		} else {
			return nil, mapperError("No type specified for field [%s]", path)
		}
	}
	f.Type = t
	switch {
	case t == "object":
		f.Properties = map[string]*fieldMapping{}
	case t == "nested", t == "flattened", t == "join", t == "percolator", t == "dense_vector", t == "geo_point", t == "geo_shape",
		t == "wildcard", t == "constant_keyword", t == "version", t == "search_as_you_type", t == "completion", t == "alias",
		t == "date_nanos", t == "binary", t == "token_count", t == "histogram", t == "semantic_text", t == "sparse_vector",
		strings.HasSuffix(t, "_range"):
		return nil, unsupported("field type [%s] (field [%s])", t, path)
	case !leafTypes[t]:
		return nil, mapperError("No handler for type [%s] declared on field [%s]", t, path)
	}
	if t == "text" || t == "match_only_text" {
		f.DocValues = false
		f.Analyzer = "standard"
	}
	for k, v := range def {
		var err error
		switch k {
		case "type":
		case "properties":
			if t != "object" {
				return nil, mapperError("unknown parameter [properties] on mapper [%s] of type [%s]", path, t)
			}
			props, ok := v.(map[string]any)
			if !ok {
				return nil, mapperError("Failed to parse mapping: properties must be an object")
			}
			f.Properties, err = parseProperties(path+".", props)
		case "dynamic":
			if t != "object" {
				return nil, mapperError("unknown parameter [dynamic] on mapper [%s] of type [%s]", path, t)
			}
			f.Dynamic, err = dynamicValue(v)
		case "enabled":
			b, ok := boolValue(v)
			if !ok || t != "object" {
				return nil, mapperError("unknown parameter [enabled] on mapper [%s] of type [%s]", path, t)
			}
			f.Enabled = b
		case "format":
			s, _ := v.(string)
			if t != "date" {
				return nil, mapperError("unknown parameter [format] on mapper [%s] of type [%s]", path, t)
			}
			f.Format = s
		case "ignore_above":
			n, ok := intValue(v)
			if !ok || t != "keyword" {
				return nil, mapperError("unknown parameter [ignore_above] on mapper [%s] of type [%s]", path, t)
			}
			f.IgnoreAbove = n
		case "index":
			b, ok := boolValue(v)
			if !ok {
				return nil, mapperError("Failed to parse mapping: [index] must be a boolean on field [%s]", path)
			}
			f.Index = b
		case "doc_values":
			b, ok := boolValue(v)
			if !ok {
				return nil, mapperError("Failed to parse mapping: [doc_values] must be a boolean on field [%s]", path)
			}
			f.DocValues = b
		case "analyzer", "search_analyzer":
			s, _ := v.(string)
			if t != "text" && t != "match_only_text" {
				return nil, mapperError("unknown parameter [%s] on mapper [%s] of type [%s]", k, path, t)
			}
			if !knownAnalyzer(s) {
				return nil, unsupported("analyzer [%s] (field [%s]); standard, simple, whitespace and keyword are", s, path)
			}
			if k == "analyzer" {
				f.Analyzer = s
			} else {
				f.SearchAnalyzer = s
			}
		case "normalizer":
			s, _ := v.(string)
			if t != "keyword" {
				return nil, mapperError("unknown parameter [normalizer] on mapper [%s] of type [%s]", path, t)
			}
			if s != "lowercase" {
				return nil, unsupported("normalizer [%s] (field [%s]); lowercase is", s, path)
			}
			f.Normalizer = s
		case "fielddata":
			b, ok := boolValue(v)
			if !ok || t != "text" {
				return nil, mapperError("unknown parameter [fielddata] on mapper [%s] of type [%s]", path, t)
			}
			f.Fielddata = b
		case "null_value":
			f.NullValue = v
		case "ignore_malformed":
			b, _ := boolValue(v)
			f.IgnoreMalformed = b
		case "copy_to":
			switch x := v.(type) {
			case string:
				f.CopyTo = []string{x}
			case []any:
				for _, s := range x {
					if str, ok := s.(string); ok {
						f.CopyTo = append(f.CopyTo, str)
					}
				}
			}
		case "scaling_factor":
			n, ok := floatValue(v)
			if !ok || t != "scaled_float" {
				return nil, mapperError("unknown parameter [scaling_factor] on mapper [%s] of type [%s]", path, t)
			}
			f.ScalingFactor = n
		case "fields":
			subs, ok := v.(map[string]any)
			if !ok {
				return nil, mapperError("Failed to parse mapping: [fields] must be an object on field [%s]", path)
			}
			f.Fields = map[string]*fieldMapping{}
			for name, sv := range subs {
				sdef, ok := sv.(map[string]any)
				if !ok {
					return nil, mapperError("Failed to parse mapping: Expected map for property [fields] on field [%s]", path)
				}
				sf, err := parseField(path+"."+name, sdef)
				if err != nil {
					return nil, err
				}
				if sf.Type == "object" {
					return nil, mapperError("Type [object] cannot be used in multi field")
				}
				f.Fields[name] = sf
			}
		case "meta":
			f.Meta, _ = v.(map[string]any)
		case "boost", "store", "norms", "similarity", "eager_global_ordinals", "index_options", "index_phrases",
			"index_prefixes", "term_vector", "coerce", "split_queries_on_whitespace", "position_increment_gap",
			"locale", "time_series_dimension", "time_series_metric", "script", "on_script_error":
			if k == "script" {
				return nil, unsupported("script on field [%s]", path)
			}
		default:
			return nil, mapperError("unknown parameter [%s] on mapper [%s] of type [%s]", k, path, t)
		}
		if err != nil {
			return nil, err
		}
	}
	if t == "scaled_float" && f.ScalingFactor == 0 {
		return nil, mapperError("Failed to parse mapping: Field [scaling_factor] is required")
	}
	if t == "date" {
		df, err := parseDateFormat(f.Format)
		if err != nil {
			return nil, mapperError("Failed to parse mapping: %v", err)
		}
		f.format = df
	}
	return f, nil
}

func intValue(v any) (int, bool) {
	switch x := v.(type) {
	case float64:
		return int(x), x == math.Trunc(x)
	case json.Number:
		n, err := strconv.Atoi(string(x))
		return n, err == nil
	case string:
		n, err := strconv.Atoi(x)
		return n, err == nil
	}
	return 0, false
}

func floatValue(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

// reindex recomputes the path lookups.
func (m *mapping) reindex() {
	m.leaves = map[string]*fieldMapping{}
	m.objects = map[string]*fieldMapping{}
	var walk func(prefix string, props map[string]*fieldMapping)
	walk = func(prefix string, props map[string]*fieldMapping) {
		for name, f := range props {
			p := prefix + name
			if f.Type == "object" {
				m.objects[p] = f
				walk(p+".", f.Properties)
				continue
			}
			m.leaves[p] = f
			for sub, sf := range f.Fields {
				m.leaves[p+"."+sub] = sf
			}
		}
	}
	walk("", m.Properties)
}

// clone copies the mapping deeply enough to add fields to it.
func (m *mapping) clone() *mapping {
	b, _ := json.Marshal(m.render())
	var raw map[string]any
	_ = json.Unmarshal(b, &raw)
	c, err := parseMapping(raw)
	if err != nil {
		panic("mapping does not survive its own rendering: " + err.Error())
	}
	return c
}

// merge adds the fields of u to m, refusing to change a field's type.
func (m *mapping) merge(u *mapping, explicitRoot map[string]any) error {
	if explicitRoot != nil {
		if _, ok := explicitRoot["dynamic"]; ok {
			m.Dynamic = u.Dynamic
		}
		if _, ok := explicitRoot["date_detection"]; ok {
			m.DateDetection = u.DateDetection
		}
		if _, ok := explicitRoot["numeric_detection"]; ok {
			m.NumericDetection = u.NumericDetection
		}
		if _, ok := explicitRoot["dynamic_date_formats"]; ok {
			m.DynamicDateFormats = u.DynamicDateFormats
		}
		if _, ok := explicitRoot["_meta"]; ok {
			m.Meta = u.Meta
		}
	}
	if err := mergeProps("", m.Properties, u.Properties); err != nil {
		return err
	}
	m.reindex()
	return nil
}

func mergeProps(prefix string, dst, src map[string]*fieldMapping) error {
	for name, s := range src {
		d, ok := dst[name]
		if !ok {
			dst[name] = s
			continue
		}
		if d.Type != s.Type {
			return badRequest("mapper [%s] cannot be changed from type [%s] to [%s]", prefix+name, d.Type, s.Type)
		}
		if d.Type == "object" {
			if s.Dynamic != "" {
				d.Dynamic = s.Dynamic
			}
			if err := mergeProps(prefix+name+".", d.Properties, s.Properties); err != nil {
				return err
			}
			continue
		}
		if d.Format != s.Format || d.Analyzer != s.Analyzer || d.Normalizer != s.Normalizer || d.Index != s.Index {
			return badRequest("Mapper for [%s] conflicts with existing mapper:\n\tCannot update parameter [format, analyzer, normalizer or index] from its current value", prefix+name)
		}
		d.IgnoreAbove = s.IgnoreAbove
		d.Meta = s.Meta
		if d.Fields == nil && s.Fields != nil {
			d.Fields = map[string]*fieldMapping{}
		}
		if err := mergeProps(prefix+name+".", d.Fields, s.Fields); err != nil {
			return err
		}
	}
	return nil
}

// render is the mapping as GET _mapping shows it.
func (m *mapping) render() map[string]any {
	out := map[string]any{}
	if m.Dynamic != "true" {
		out["dynamic"] = m.Dynamic
	}
	if !m.DateDetection {
		out["date_detection"] = false
	}
	if m.NumericDetection {
		out["numeric_detection"] = true
	}
	if m.DynamicDateFormats != nil {
		out["dynamic_date_formats"] = m.DynamicDateFormats
	}
	if m.Meta != nil {
		out["_meta"] = m.Meta
	}
	if len(m.Properties) > 0 {
		out["properties"] = renderProps(m.Properties)
	}
	return out
}

func renderProps(props map[string]*fieldMapping) map[string]any {
	out := map[string]any{}
	for name, f := range props {
		out[name] = f.render()
	}
	return out
}

func (f *fieldMapping) render() map[string]any {
	r := map[string]any{}
	if f.Type == "object" {
		if f.Dynamic != "" {
			r["dynamic"] = f.Dynamic
		}
		if !f.Enabled {
			r["enabled"] = false
		}
		if len(f.Properties) > 0 {
			r["properties"] = renderProps(f.Properties)
		} else if f.Dynamic == "" && f.Enabled {
			r["type"] = "object"
		}
		return r
	}
	r["type"] = f.Type
	if f.Format != "" {
		r["format"] = f.Format
	}
	if f.IgnoreAbove > 0 {
		r["ignore_above"] = f.IgnoreAbove
	}
	if !f.Index {
		r["index"] = false
	}
	if !f.DocValues && f.Type != "text" && f.Type != "match_only_text" {
		r["doc_values"] = false
	}
	if f.Analyzer != "" && f.Analyzer != "standard" {
		r["analyzer"] = f.Analyzer
	}
	if f.SearchAnalyzer != "" {
		r["search_analyzer"] = f.SearchAnalyzer
	}
	if f.Normalizer != "" {
		r["normalizer"] = f.Normalizer
	}
	if f.Fielddata {
		r["fielddata"] = true
	}
	if f.NullValue != nil {
		r["null_value"] = f.NullValue
	}
	if f.IgnoreMalformed {
		r["ignore_malformed"] = true
	}
	if len(f.CopyTo) > 0 {
		r["copy_to"] = f.CopyTo
	}
	if f.ScalingFactor != 0 {
		r["scaling_factor"] = f.ScalingFactor
	}
	if f.Meta != nil {
		r["meta"] = f.Meta
	}
	if len(f.Fields) > 0 {
		r["fields"] = renderProps(f.Fields)
	}
	return r
}

// values are what a document holds for one field, as indexed.
type values struct {
	strs  []string   // keyword, ip
	toks  [][]string // text: the tokens of each value
	nums  []float64  // numbers; dates in epoch milliseconds
	bools []bool
}

func (v *values) empty() bool {
	return len(v.strs) == 0 && len(v.toks) == 0 && len(v.nums) == 0 && len(v.bools) == 0
}

// docParser turns a source into indexed values under a mapping, adding
// dynamic fields to a copy of the mapping when it must.
type docParser struct {
	m       *mapping
	updated *mapping // non-nil once a dynamic field was added
	id      string
	fields  map[string]*values
}

func (p *docParser) current() *mapping {
	if p.updated != nil {
		return p.updated
	}
	return p.m
}

func docError(format string, args ...any) *esError {
	return errf(http.StatusBadRequest, "document_parsing_exception", format, args...)
}

// parseDocument indexes a source. It returns the new mapping when dynamic
// fields were added (nil otherwise).
func parseDocument(m *mapping, id string, src map[string]any) (map[string]*values, *mapping, error) {
	p := &docParser{m: m, id: id, fields: map[string]*values{}}
	if err := p.object("", src, m.Dynamic); err != nil {
		return nil, nil, err
	}
	return p.fields, p.updated, nil
}

func (p *docParser) object(prefix string, obj map[string]any, dynamic string) error {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := obj[k]
		if k == "" || strings.TrimSpace(k) == "" {
			return docError("field name cannot be an empty string")
		}
		if strings.HasPrefix(k, "_") && prefix == "" && (k == "_id" || k == "_index" || k == "_source" || k == "_routing" || k == "_seq_no" || k == "_version") {
			return docError("[1:2] Field [%s] is a metadata field and cannot be added inside a document. Use the index API request parameters.", k)
		}
		if strings.Contains(k, ".") {
			first, rest, _ := strings.Cut(k, ".")
			if first == "" || rest == "" {
				return docError("object field starting or ending with a [.] makes object resolution ambiguous: [%s]", k)
			}
			if err := p.value(prefix+first, map[string]any{rest: v}, dynamic); err != nil {
				return err
			}
			continue
		}
		if err := p.value(prefix+k, v, dynamic); err != nil {
			return err
		}
	}
	return nil
}

func (p *docParser) value(path string, v any, dynamic string) error {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if err := p.value(path, e, dynamic); err != nil {
				return err
			}
		}
		return nil
	case nil:
		if f := p.current().leaves[path]; f != nil && f.NullValue != nil {
			return p.leaf(path, f, f.NullValue)
		}
		return nil
	case map[string]any:
		m := p.current()
		if f := m.leaves[path]; f != nil {
			return docError("failed to parse field [%s] of type [%s] in document with id '%s'. Preview of field's value: '%s'", path, f.Type, p.id, preview(x))
		}
		obj := m.objects[path]
		if obj == nil {
			switch dynamic {
			case "strict":
				return p.strict(path)
			case "false", "runtime":
				return nil
			}
			obj = &fieldMapping{Type: "object", Enabled: true, Properties: map[string]*fieldMapping{}}
			p.add(path, obj)
		}
		if !obj.Enabled {
			return nil
		}
		d := dynamic
		if obj.Dynamic != "" {
			d = obj.Dynamic
		}
		return p.object(path+".", x, d)
	}
	m := p.current()
	if m.objects[path] != nil {
		return docError("object mapping for [%s] tried to parse field [%s] as object, but found a concrete value", path, path[strings.LastIndex(path, ".")+1:])
	}
	f := m.leaves[path]
	if f == nil {
		switch dynamic {
		case "strict":
			return p.strict(path)
		case "false", "runtime":
			return nil
		}
		f = p.dynamicField(v)
		p.add(path, f)
	}
	return p.leaf(path, f, v)
}

func (p *docParser) strict(path string) error {
	parent := "_doc"
	if i := strings.LastIndex(path, "."); i >= 0 {
		parent = path[:i]
	}
	e := errf(http.StatusBadRequest, "strict_dynamic_mapping_exception", "[1:2] mapping set to strict, dynamic introduction of [%s] within [%s] is not allowed", path[strings.LastIndex(path, ".")+1:], parent)
	return e
}

// add puts a dynamically mapped field into the updated mapping.
func (p *docParser) add(path string, f *fieldMapping) {
	if p.updated == nil {
		p.updated = p.m.clone()
	}
	props := p.updated.Properties
	parts := strings.Split(path, ".")
	for _, part := range parts[:len(parts)-1] {
		obj := props[part]
		props = obj.Properties
	}
	props[parts[len(parts)-1]] = f
	p.updated.reindex()
}

// dynamicField is the mapping Elasticsearch's dynamic mapping gives a new
// field from its first value.
func (p *docParser) dynamicField(v any) *fieldMapping {
	m := p.current()
	switch x := v.(type) {
	case bool:
		return &fieldMapping{Type: "boolean", Index: true, DocValues: true}
	case json.Number:
		if strings.ContainsAny(string(x), ".eE") {
			return &fieldMapping{Type: "float", Index: true, DocValues: true}
		}
		return &fieldMapping{Type: "long", Index: true, DocValues: true}
	case float64:
		if x == math.Trunc(x) {
			return &fieldMapping{Type: "long", Index: true, DocValues: true}
		}
		return &fieldMapping{Type: "float", Index: true, DocValues: true}
	case string:
		// Elasticsearch tries the date formats only on strings with
		// more than one ':', '-' or '/'.
		if m.DateDetection && (strings.Count(x, ":") > 1 || strings.Count(x, "-") > 1 || strings.Count(x, "/") > 1) {
			formats := m.DynamicDateFormats
			if formats == nil {
				formats = []string{"strict_date_optional_time", "yyyy/MM/dd HH:mm:ss||yyyy/MM/dd"}
			}
			for _, spec := range formats {
				df, err := parseDateFormat(spec)
				if err != nil {
					continue
				}
				if _, err := df.parse(x, false, nil); err == nil {
					f := &fieldMapping{Type: "date", Index: true, DocValues: true}
					if spec != "strict_date_optional_time" {
						f.Format = spec
					}
					f.format, _ = parseDateFormat(f.Format)
					return f
				}
			}
		}
		if m.NumericDetection {
			if _, err := strconv.ParseInt(x, 10, 64); err == nil {
				return &fieldMapping{Type: "long", Index: true, DocValues: true}
			}
			if _, err := strconv.ParseFloat(x, 64); err == nil {
				return &fieldMapping{Type: "float", Index: true, DocValues: true}
			}
		}
	}
	return &fieldMapping{Type: "text", Index: true, Analyzer: "standard", Fields: map[string]*fieldMapping{
		"keyword": {Type: "keyword", Index: true, DocValues: true, IgnoreAbove: 256},
	}}
}

func (p *docParser) vals(path string) *values {
	v := p.fields[path]
	if v == nil {
		v = &values{}
		p.fields[path] = v
	}
	return v
}

// leaf indexes one scalar value into a leaf field and its multi-fields.
func (p *docParser) leaf(path string, f *fieldMapping, v any) error {
	if err := p.index(path, f, v); err != nil {
		return err
	}
	for sub, sf := range f.Fields {
		if err := p.index(path+"."+sub, sf, v); err != nil {
			return err
		}
	}
	for _, target := range f.CopyTo {
		tf := p.current().leaves[target]
		if tf == nil {
			continue
		}
		if err := p.index(target, tf, v); err != nil {
			return err
		}
	}
	return nil
}

func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return string(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	}
	return "", false
}

func (p *docParser) index(path string, f *fieldMapping, v any) error {
	s, ok := scalarText(v)
	if !ok {
		return docError("failed to parse field [%s] of type [%s] in document with id '%s'", path, f.Type, p.id)
	}
	malformed := func(cause *esError) error {
		if f.IgnoreMalformed {
			return nil
		}
		e := docError("failed to parse field [%s] of type [%s] in document with id '%s'. Preview of field's value: '%s'", path, f.Type, p.id, s)
		e.CausedBy = cause
		return e
	}
	switch f.Type {
	case "keyword", "ip":
		if f.Type == "ip" {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return malformed(badRequest("'%s' is not an IP string literal.", s))
			}
			s = a.String()
		}
		if f.IgnoreAbove > 0 && utf8.RuneCountInString(s) > f.IgnoreAbove {
			return nil
		}
		if f.Normalizer == "lowercase" {
			s = strings.ToLower(s)
		}
		vals := p.vals(path)
		vals.strs = append(vals.strs, s)
	case "text", "match_only_text":
		vals := p.vals(path)
		vals.toks = append(vals.toks, analyze(f.Analyzer, s))
	case "date":
		ms, err := f.format.parse(s, false, nil)
		if err != nil {
			return malformed(badRequest("failed to parse date field [%s] with format [%s]", s, f.format.spec))
		}
		vals := p.vals(path)
		vals.nums = append(vals.nums, float64(ms))
	case "boolean":
		var b bool
		switch s {
		case "true":
			b = true
		case "false", "":
		default:
			return malformed(badRequest("Failed to parse value [%s] as only [true] or [false] are allowed.", s))
		}
		vals := p.vals(path)
		vals.bools = append(vals.bools, b)
	default: // numbers
		n, err := parseNumber(f, s)
		if err != nil {
			return malformed(asESError(err))
		}
		vals := p.vals(path)
		vals.nums = append(vals.nums, n)
	}
	return nil
}

// parseNumber reads a value of a numeric field, coercing strings and
// truncating decimals for integer types, within the type's range.
func parseNumber(f *fieldMapping, s string) (float64, error) {
	n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, badRequest("For input string: \"%s\"", s)
	}
	limits := map[string][2]float64{
		"long": {math.MinInt64, math.MaxInt64}, "integer": {math.MinInt32, math.MaxInt32},
		"short": {math.MinInt16, math.MaxInt16}, "byte": {math.MinInt8, math.MaxInt8}, "unsigned_long": {0, math.MaxUint64},
	}
	if l, ok := limits[f.Type]; ok {
		n = math.Trunc(n)
		if n < l[0] || n > l[1] {
			return 0, badRequest("Value [%s] is out of range for %s %s", s, article(f.Type), f.Type)
		}
	}
	switch f.Type {
	case "float":
		n = float64(float32(n))
	case "scaled_float":
		n = math.Round(n*f.ScalingFactor) / f.ScalingFactor
	}
	return n, nil
}

func article(t string) string {
	if strings.ContainsRune("aeiou", rune(t[0])) {
		return "an"
	}
	return "a"
}

func preview(v any) string {
	b, _ := json.Marshal(v)
	s := string(b)
	if len(s) > 20 {
		s = s[:20] + "..."
	}
	return s
}

func compactJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Analysis.

func knownAnalyzer(name string) bool {
	switch name {
	case "standard", "simple", "whitespace", "keyword":
		return true
	}
	return false
}

// analyze splits text into the terms an analyzer indexes. standard
// approximates Unicode word segmentation (UAX #29) with lower-casing.
func analyze(analyzer, text string) []string {
	switch analyzer {
	case "keyword":
		return []string{text}
	case "whitespace":
		return strings.Fields(text)
	case "simple":
		return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) })
	}
	return standardTokens(text)
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || r == '_'
}

func isIdeograph(r rune) bool {
	return unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r)
}

func standardTokens(text string) []string {
	rs := []rune(text)
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			t := strings.ToLower(string(cur))
			if utf8.RuneCountInString(t) <= 255 {
				out = append(out, t)
			}
			cur = cur[:0]
		}
	}
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case isIdeograph(r):
			flush()
			out = append(out, string(r))
		case isWordRune(r):
			cur = append(cur, r)
		case len(cur) > 0 && i+1 < len(rs) && isWordRune(rs[i+1]) && !isIdeograph(rs[i+1]):
			prev, next := cur[len(cur)-1], rs[i+1]
			bothLetters := unicode.IsLetter(prev) && unicode.IsLetter(next)
			bothDigits := unicode.IsDigit(prev) && unicode.IsDigit(next)
			// MidLetter, MidNumLet and MidNum keep words like don't,
			// e.g, 3.14 and 1,000 together.
			if (r == '\'' || r == '’' || r == '.' || r == ':') && bothLetters || (r == '.' || r == ',' || r == '\'' || r == ';') && bothDigits {
				cur = append(cur, r)
				continue
			}
			flush()
		default:
			flush()
		}
	}
	flush()
	return out
}
