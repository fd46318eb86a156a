package es

import (
	"strconv"
	"strings"
	"unicode"
)

// textQueryBuilder makes the per-field queries of simple_query_string and
// query_string: each term, phrase, prefix or fuzzy term is searched in every
// field and the fields are ORed (dis_max).
type textQueryBuilder struct {
	qc      *compiler
	fields  map[string]float64
	op      string // default operator: "and" or "or"
	lenient bool
}

// perField ORs one query per field; nil when no field gives a query (the
// text analyzed to nothing, or a field type that cannot take it, leniently).
func (b *textQueryBuilder) perField(mk func(field string, f *fieldMapping) (query, error)) (query, error) {
	var qs []query
	for _, name := range sortedKeys(b.fields) {
		f := b.qc.leaf(name)
		if f == nil {
			continue
		}
		q, err := mk(name, f)
		if err != nil {
			if b.lenient {
				continue
			}
			return nil, err
		}
		if q == nil {
			continue
		}
		if boost := b.fields[name]; boost != 1 {
			q = disMaxQ{qs: []query{q}, boost: boost}
		}
		qs = append(qs, q)
	}
	switch len(qs) {
	case 0:
		return nil, nil
	case 1:
		return qs[0], nil
	}
	return disMaxQ{qs: qs, tie: 1, boost: 1}, nil
}

// term is a plain term: analyzed for text fields (its tokens joined by the
// default operator), whole for keyword fields, parsed for the others.
func (b *textQueryBuilder) term(text string) (query, error) {
	return b.perField(func(name string, f *fieldMapping) (query, error) {
		if isText(f) {
			mo := matchOpts{operator: b.op, boost: 1, lenient: b.lenient}
			q, err := b.qc.matchField("match", name, text, mo)
			if _, none := q.(matchNoneQ); none {
				return nil, err
			}
			return q, err
		}
		m, err := b.qc.exactMatcher(name, f, text, false, false)
		if err != nil {
			return nil, err
		}
		return termQ{field: name, term: text, m: m, boost: 1, scored: f.Type == "keyword"}, nil
	})
}

func (b *textQueryBuilder) phrase(text string, slop int) (query, error) {
	return b.perField(func(name string, f *fieldMapping) (query, error) {
		if isText(f) {
			toks := analyze(f.Analyzer, text)
			if len(toks) == 0 {
				return nil, nil
			}
			return phraseQ{field: name, toks: toks, slop: slop, boost: 1}, nil
		}
		m, err := b.qc.exactMatcher(name, f, text, false, false)
		if err != nil {
			return nil, err
		}
		return termQ{field: name, term: text, m: m, boost: 1, scored: f.Type == "keyword"}, nil
	})
}

func (b *textQueryBuilder) prefix(text string) (query, error) {
	return b.wildcard(text + "*")
}

// wildcard handles prefix and wildcard terms (* and ?), normalized
// (lower-cased) for text fields.
func (b *textQueryBuilder) wildcard(pattern string) (query, error) {
	return b.perField(func(name string, f *fieldMapping) (query, error) {
		if f.Type != "keyword" && f.Type != "ip" && !isText(f) {
			return nil, shardError("failed to create query: Can only use wildcard queries on keyword and text fields - not on [%s] which is of type [%s]", name, f.Type)
		}
		p := pattern
		if isText(f) || f.Normalizer == "lowercase" {
			p = strings.ToLower(p)
		}
		if strings.HasSuffix(p, "*") && !strings.ContainsAny(p[:len(p)-1], "*?") {
			pre := p[:len(p)-1]
			return fieldPredQ{field: name, boost: 1, pred: stringPred(func(x string) bool { return strings.HasPrefix(x, pre) })}, nil
		}
		q, err := b.qc.compileMultiTerm("wildcard", map[string]any{name: p})
		return q, err
	})
}

func (b *textQueryBuilder) fuzzy(text string, edits int) (query, error) {
	return b.perField(func(name string, f *fieldMapping) (query, error) {
		if f.Type != "keyword" && !isText(f) {
			return nil, shardError("failed to create query: Can only use fuzzy queries on keyword and text fields - not on [%s] which is of type [%s]", name, f.Type)
		}
		t := text
		if isText(f) {
			t = strings.ToLower(t)
		}
		return fieldPredQ{field: name, boost: 1, pred: stringPred(func(x string) bool {
			return editDistance([]rune(t), []rune(x), edits) <= edits
		})}, nil
	})
}

// simple_query_string.

const (
	sqsAnd = 1 << iota
	sqsNot
	sqsOr
	sqsPrefix
	sqsPhrase
	sqsPrecedence
	sqsEscape
	sqsWhitespace
	sqsFuzzy
	sqsNear
	sqsAll = 1<<10 - 1
)

var sqsFlagNames = map[string]int{
	"ALL": sqsAll, "NONE": 0, "AND": sqsAnd, "NOT": sqsNot, "OR": sqsOr, "PREFIX": sqsPrefix, "PHRASE": sqsPhrase,
	"PRECEDENCE": sqsPrecedence, "ESCAPE": sqsEscape, "WHITESPACE": sqsWhitespace, "FUZZY": sqsFuzzy,
	"NEAR": sqsNear, "SLOP": sqsNear,
}

func (qc *compiler) compileSimpleQueryString(body any) (query, error) {
	flags := sqsAll
	option := func(k string, v any, _ *[]string) error {
		switch k {
		case "analyze_wildcard", "auto_generate_synonyms_phrase_query",
			"fuzzy_max_expansions", "fuzzy_prefix_length", "fuzzy_transpositions":
			return nil
		case "flags":
			switch x := v.(type) {
			case string:
				flags = 0
				for _, name := range strings.Split(x, "|") {
					f, ok := sqsFlagNames[strings.ToUpper(strings.TrimSpace(name))]
					if !ok {
						return badRequest("Unknown simple_query_string flag [%s]", name)
					}
					flags |= f
				}
			default:
				n, ok := intValue(v)
				if !ok {
					return parsingError("[simple_query_string] flags must be a string or a number")
				}
				if n == -1 {
					n = sqsAll
				}
				flags = n
			}
			return nil
		case "analyzer", "minimum_should_match", "quote_field_suffix":
			return unsupported("simple_query_string parameter [%s]", k)
		}
		return parsingError("[simple_query_string] unsupported field [%s]", k)
	}
	return qc.compileTextQuery("simple_query_string", body, option, func(b *textQueryBuilder, text string) (query, error) {
		p := &sqsParser{data: []rune(text), flags: flags, b: b}
		return p.parse(0, len(p.data))
	})
}

// compileTextQuery compiles a query_string or simple_query_string body: it
// reads what the two share (the query text, fields, default_operator,
// lenient) and gives each other key to option, then parses the text; a text
// that gives no query matches nothing.
func (qc *compiler) compileTextQuery(kind string, body any, option func(k string, v any, patterns *[]string) error,
	parse func(b *textQueryBuilder, text string) (query, error)) (query, error) {
	o, ok := body.(map[string]any)
	if !ok {
		return nil, parsingError("[%s] malformed query", kind)
	}
	text, ok := o["query"].(string)
	if !ok {
		return nil, parsingError("[%s] query text missing", kind)
	}
	b := &textQueryBuilder{qc: qc, op: "or"}
	explicitLenient := false
	var patterns []string
	for k, v := range o {
		switch k {
		case "query", "boost", "_name":
		case "fields":
			patterns = stringList(v)
		case "default_operator":
			s, _ := v.(string)
			b.op = strings.ToLower(s)
			if b.op != "and" && b.op != "or" {
				return nil, badRequest("No enum constant org.elasticsearch.index.query.Operator.%s", strings.ToUpper(s))
			}
		case "lenient":
			explicitLenient, _ = v.(bool)
		default:
			if err := option(k, v, &patterns); err != nil {
				return nil, err
			}
		}
	}
	if patterns == nil {
		patterns = qc.defaultFields
	}
	var wildcard bool
	b.fields, wildcard = qc.expandFields(patterns)
	b.lenient = explicitLenient || wildcard
	q, err := parse(b, text)
	if err != nil {
		return nil, err
	}
	if q == nil {
		return matchNoneQ{}, nil
	}
	return disMaxQ{qs: []query{q}, boost: boostOf(o)}, nil
}

// sqsParser is Lucene's SimpleQueryParser: clauses are combined left to
// right, each with the explicit operator before it (+ or |) or the default
// one; a change of operator makes what was built so far one clause of a new
// group, so "a b | c" with the AND default is (a AND b) OR c.
type sqsParser struct {
	data  []rune
	flags int
	b     *textQueryBuilder
}

type sqsState struct {
	top      query
	topOp    string
	current  string
	previous string
	not      int
}

func (p *sqsParser) has(f int) bool { return p.flags&f != 0 }

func (p *sqsParser) build(st *sqsState, branch query) {
	if branch == nil {
		return
	}
	if st.not%2 == 1 {
		branch = notQ{q: branch}
	}
	if st.top == nil {
		st.top = branch
	} else {
		op := st.current
		if op == "" {
			op = p.b.op
		}
		if st.previous != op {
			st.top = group(op, []query{st.top})
			st.topOp = op
		}
		g := st.top.(boolQ)
		if op == "and" {
			g.must = append(append([]query{}, g.must...), branch)
		} else {
			g.should = append(append([]query{}, g.should...), branch)
		}
		st.top = g
		st.previous = op
	}
	st.current = ""
}

func group(op string, qs []query) boolQ {
	if op == "and" {
		return boolQ{must: qs, msm: -1, boost: 1}
	}
	return boolQ{should: qs, msm: -1, boost: 1}
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }

func (p *sqsParser) parse(start, end int) (query, error) {
	st := &sqsState{}
	i := start
	for i < end {
		c := p.data[i]
		var err error
		switch {
		case c == '(' && p.has(sqsPrecedence):
			i, err = p.subQuery(st, i+1, end)
		case c == ')' && p.has(sqsPrecedence):
			i++
		case c == '"' && p.has(sqsPhrase):
			i, err = p.phrase(st, i+1, end)
		case c == '+' && p.has(sqsAnd):
			if st.current == "" && st.top != nil {
				st.current = "and"
			}
			i++
		case c == '|' && p.has(sqsOr):
			if st.current == "" && st.top != nil {
				st.current = "or"
			}
			i++
		case c == '-' && p.has(sqsNot):
			st.not++
			i++
			continue
		case isSpace(c) && p.has(sqsWhitespace):
			i++
		default:
			i, err = p.token(st, i, end)
		}
		if err != nil {
			return nil, err
		}
		st.not = 0
	}
	return st.top, nil
}

func (p *sqsParser) subQuery(st *sqsState, start, end int) (int, error) {
	depth := 1
	escaped, quoted := false, false
	i := start
	for ; i < end; i++ {
		c := p.data[i]
		switch {
		case escaped:
			escaped = false
			continue
		case c == '\\' && p.has(sqsEscape):
			escaped = true
			continue
		case c == '"' && p.has(sqsPhrase):
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')':
			depth--
		}
		if depth == 0 {
			break
		}
	}
	switch {
	case i >= end: // never closed: the parenthesis is ignored
		return start, nil
	case i == start: // "()": the pending operator applied to nothing
		st.current = ""
		return i + 1, nil
	}
	sub, err := p.parse(start, i)
	if err != nil {
		return 0, err
	}
	p.build(st, sub)
	return i + 1, nil
}

func (p *sqsParser) phrase(st *sqsState, start, end int) (int, error) {
	var buf []rune
	i := start
	escaped := false
	for ; i < end; i++ {
		c := p.data[i]
		if escaped {
			buf = append(buf, c)
			escaped = false
			continue
		}
		if c == '\\' && p.has(sqsEscape) {
			escaped = true
			continue
		}
		if c == '"' {
			break
		}
		buf = append(buf, c)
	}
	if i >= end { // never closed: the quote is ignored
		return start, nil
	}
	i++
	slop := 0
	if i < end && p.data[i] == '~' && p.has(sqsNear) {
		j := i + 1
		for j < end && unicode.IsDigit(p.data[j]) {
			j++
		}
		slop, _ = strconv.Atoi(string(p.data[i+1 : j]))
		i = j
	}
	q, err := p.b.phrase(string(buf), slop)
	if err != nil {
		return 0, err
	}
	p.build(st, q)
	return i, nil
}

func (p *sqsParser) finished(c rune) bool {
	return c == '"' && p.has(sqsPhrase) || c == '|' && p.has(sqsOr) || c == '+' && p.has(sqsAnd) ||
		(c == '(' || c == ')') && p.has(sqsPrecedence) || isSpace(c) && p.has(sqsWhitespace)
}

func (p *sqsParser) token(st *sqsState, start, end int) (int, error) {
	var buf []rune
	i := start
	escaped, prefix := false, false
	fuzzy := 0
	for ; i < end; i++ {
		c := p.data[i]
		if escaped {
			buf = append(buf, c)
			escaped = false
			continue
		}
		if c == '\\' && p.has(sqsEscape) {
			escaped = true
			continue
		}
		if p.finished(c) {
			break
		}
		if c == '~' && p.has(sqsFuzzy) {
			j := i + 1
			for j < end && unicode.IsDigit(p.data[j]) {
				j++
			}
			fuzzy = 2
			if j > i+1 {
				fuzzy, _ = strconv.Atoi(string(p.data[i+1 : j]))
				fuzzy = min(fuzzy, 2)
			}
			i = j
			// whatever follows up to the end of the token is dropped
			for i < end && !p.finished(p.data[i]) {
				i++
			}
			break
		}
		buf = append(buf, c)
	}
	if len(buf) > 0 && buf[len(buf)-1] == '*' && p.has(sqsPrefix) && fuzzy == 0 {
		prefix = true
		buf = buf[:len(buf)-1]
	}
	if len(buf) == 0 && !prefix {
		return i, nil
	}
	text := string(buf)
	var q query
	var err error
	switch {
	case fuzzy > 0:
		q, err = p.b.fuzzy(text, fuzzy)
	case prefix:
		q, err = p.b.prefix(text)
	default:
		q, err = p.b.term(text)
	}
	if err != nil {
		return 0, err
	}
	p.build(st, q)
	return i, nil
}

// query_string: Lucene's classic syntax.

func (qc *compiler) compileQueryString(body any) (query, error) {
	option := func(k string, v any, patterns *[]string) error {
		switch k {
		case "analyze_wildcard", "auto_generate_synonyms_phrase_query", "allow_leading_wildcard",
			"fuzzy_max_expansions", "fuzzy_prefix_length", "fuzzy_transpositions", "max_determinized_states",
			"enable_position_increments", "escape", "phrase_slop", "rewrite", "fuzzy_rewrite", "type", "tie_breaker":
			return nil
		case "default_field":
			*patterns = stringList(v)
			return nil
		case "analyzer", "quote_analyzer", "minimum_should_match", "quote_field_suffix", "time_zone", "fuzziness":
			return unsupported("query_string parameter [%s]", k)
		}
		return parsingError("[query_string] query does not support [%s]", k)
	}
	return qc.compileTextQuery("query_string", body, option, func(b *textQueryBuilder, text string) (query, error) {
		p := &qsParser{b: b, qc: qc, lenient: b.lenient}
		if err := p.lex(text); err != nil {
			return nil, err
		}
		q, err := p.query("")
		if err != nil {
			return nil, err
		}
		if p.pos < len(p.toks) {
			return nil, p.syntaxError()
		}
		return q, nil
	})
}

type qsTok struct {
	kind string // word, phrase, and, or, not, plus, minus, lparen, rparen, colon, caret, tilde, range
	text string
	// range tokens
	lo, hi         string
	inclLo, inclHi bool
	quotedWildcard bool
}

type qsParser struct {
	b       *textQueryBuilder
	qc      *compiler
	toks    []qsTok
	pos     int
	src     string
	lenient bool
}

func (p *qsParser) syntaxError() error {
	return shardError("Failed to parse query [%s]", p.src)
}

func isQSSpecial(r rune) bool {
	return strings.ContainsRune(`+-!():^[]"{}~\/&|`, r) || unicode.IsSpace(r)
}

// qsOperators are the tokens of the query_string operators, by their text.
var qsOperators = map[string]string{
	"&&": "and", "||": "or", "+": "plus", "-": "minus", "!": "not", "(": "lparen", ")": "rparen", ":": "colon",
}

func (p *qsParser) lex(s string) error {
	p.src = s
	rs := []rune(s)
	for i := 0; i < len(rs); {
		c := rs[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case i+1 < len(rs) && qsOperators[string(rs[i:i+2])] != "":
			p.toks = append(p.toks, qsTok{kind: qsOperators[string(rs[i:i+2])]})
			i += 2
		case qsOperators[string(c)] != "":
			p.toks = append(p.toks, qsTok{kind: qsOperators[string(c)]})
			i++
		case c == '^' || c == '~':
			j := i + 1
			for j < len(rs) && (unicode.IsDigit(rs[j]) || rs[j] == '.') {
				j++
			}
			kind := "caret"
			if c == '~' {
				kind = "tilde"
			}
			p.toks = append(p.toks, qsTok{kind: kind, text: string(rs[i+1 : j])})
			i = j
		case c == '"':
			var buf []rune
			j := i + 1
			for ; j < len(rs) && rs[j] != '"'; j++ {
				if rs[j] == '\\' && j+1 < len(rs) {
					j++
				}
				buf = append(buf, rs[j])
			}
			if j >= len(rs) {
				return p.syntaxError()
			}
			p.toks = append(p.toks, qsTok{kind: "phrase", text: string(buf)})
			i = j + 1
		case c == '[' || c == '{':
			j := i + 1
			for j < len(rs) && rs[j] != ']' && rs[j] != '}' {
				j++
			}
			if j >= len(rs) {
				return p.syntaxError()
			}
			parts := strings.Fields(string(rs[i+1 : j]))
			if len(parts) != 3 || parts[1] != "TO" {
				return p.syntaxError()
			}
			p.toks = append(p.toks, qsTok{kind: "range", lo: strings.Trim(parts[0], `"`), hi: strings.Trim(parts[2], `"`), inclLo: c == '[', inclHi: rs[j] == ']'})
			i = j + 1
		case c == '/':
			return unsupported("regular expressions in query_string")
		default:
			var buf []rune
			j := i
			for ; j < len(rs); j++ {
				r := rs[j]
				if r == '\\' && j+1 < len(rs) {
					j++
					buf = append(buf, '\\', rs[j])
					continue
				}
				if isQSSpecial(r) && !(j > i && (r == '-' || r == '+')) {
					break
				}
				buf = append(buf, r)
			}
			if j == i { // a lone special character: taken as a term
				buf = append(buf, rs[i])
				j = i + 1
			}
			word := string(buf)
			switch word {
			case "AND":
				p.toks = append(p.toks, qsTok{kind: "and"})
			case "OR":
				p.toks = append(p.toks, qsTok{kind: "or"})
			case "NOT":
				p.toks = append(p.toks, qsTok{kind: "not"})
			default:
				p.toks = append(p.toks, qsTok{kind: "word", text: word})
			}
			i = j
		}
	}
	return nil
}

func (p *qsParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos].kind
	}
	return ""
}

const (
	conjNone = iota
	conjAnd
	conjOr
	modNone
	modReq
	modNot
)

type qsClause struct {
	q     query
	occur string // must, should, must_not
}

// addClause is Lucene's QueryParserBase.addClause.
func (p *qsParser) addClause(clauses []qsClause, conj, mods int, q query) []qsClause {
	if len(clauses) > 0 && conj == conjAnd && clauses[len(clauses)-1].occur != "must_not" {
		clauses[len(clauses)-1].occur = "must"
	}
	if len(clauses) > 0 && p.b.op == "and" && conj == conjOr && clauses[len(clauses)-1].occur != "must_not" {
		clauses[len(clauses)-1].occur = "should"
	}
	if q == nil {
		return clauses
	}
	var required, prohibited bool
	if p.b.op == "or" {
		prohibited = mods == modNot
		required = mods == modReq
		if conj == conjAnd && !prohibited {
			required = true
		}
	} else {
		prohibited = mods == modNot
		required = !prohibited && conj != conjOr
	}
	switch {
	case required:
		return append(clauses, qsClause{q, "must"})
	case prohibited:
		return append(clauses, qsClause{q, "must_not"})
	}
	return append(clauses, qsClause{q, "should"})
}

func (p *qsParser) query(field string) (query, error) {
	var clauses []qsClause
	var first query
	firstMods := modNone
	for n := 0; ; n++ {
		conj := conjNone
		if n > 0 {
			switch p.peek() {
			case "and":
				conj = conjAnd
				p.pos++
			case "or":
				conj = conjOr
				p.pos++
			}
		}
		switch p.peek() {
		case "", "rparen":
			if conj != conjNone {
				return nil, p.syntaxError()
			}
			goto done
		}
		mods := modNone
		switch p.peek() {
		case "plus":
			mods = modReq
			p.pos++
		case "minus", "not":
			mods = modNot
			p.pos++
		}
		q, err := p.clause(field)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			first, firstMods = q, mods
		}
		clauses = p.addClause(clauses, conj, mods, q)
	}
done:
	if len(clauses) == 1 && first != nil && firstMods == modNone {
		return first, nil
	}
	if len(clauses) == 0 {
		return nil, nil
	}
	b := boolQ{msm: -1, boost: 1}
	for _, c := range clauses {
		switch c.occur {
		case "must":
			b.must = append(b.must, c.q)
		case "should":
			b.should = append(b.should, c.q)
		default:
			b.mustNot = append(b.mustNot, c.q)
		}
	}
	return b, nil
}

func (p *qsParser) clause(field string) (query, error) {
	if p.peek() == "word" && p.pos+1 < len(p.toks) && p.toks[p.pos+1].kind == "colon" {
		field = unescape(p.toks[p.pos].text)
		p.pos += 2
	}
	var q query
	var err error
	if p.peek() == "lparen" {
		p.pos++
		q, err = p.query(field)
		if err != nil {
			return nil, err
		}
		if p.peek() != "rparen" {
			return nil, p.syntaxError()
		}
		p.pos++
	} else {
		q, err = p.term(field)
		if err != nil {
			return nil, err
		}
	}
	if p.peek() == "caret" {
		boost, _ := strconv.ParseFloat(p.toks[p.pos].text, 64)
		p.pos++
		if q != nil && boost > 0 {
			q = disMaxQ{qs: []query{q}, boost: boost}
		}
	}
	return q, nil
}

func unescape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// builderFor is the per-field builder for an explicit field (with
// wildcards expanded) or the default fields.
func (p *qsParser) builderFor(field string) *textQueryBuilder {
	if field == "" {
		return p.b
	}
	fields, wildcard := p.qc.expandFields([]string{field})
	return &textQueryBuilder{qc: p.qc, fields: fields, op: p.b.op, lenient: p.lenient || wildcard}
}

func (p *qsParser) term(field string) (query, error) {
	if p.pos >= len(p.toks) {
		return nil, p.syntaxError()
	}
	t := p.toks[p.pos]
	p.pos++
	b := p.builderFor(field)
	switch t.kind {
	case "phrase":
		slop := 0
		if p.peek() == "tilde" {
			slop, _ = strconv.Atoi(p.toks[p.pos].text)
			p.pos++
		}
		return b.phrase(t.text, slop)
	case "range":
		return p.rangeQuery(b, t.lo, t.hi, t.inclLo, t.inclHi)
	case "word":
	default:
		return nil, p.syntaxError()
	}
	word := t.text
	if field == "_exists_" {
		return existsQ{field: unescape(word), boost: 1}, nil
	}
	if p.peek() == "tilde" {
		edits := 2
		if s := p.toks[p.pos].text; s != "" {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				edits = min(int(f), 2)
			}
		}
		p.pos++
		return b.fuzzy(unescape(word), edits)
	}
	for _, op := range []string{">=", "<=", ">", "<"} {
		if rest, ok := strings.CutPrefix(word, op); ok && field != "" {
			switch op {
			case ">=":
				return p.rangeQuery(b, rest, "*", true, true)
			case ">":
				return p.rangeQuery(b, rest, "*", false, true)
			case "<=":
				return p.rangeQuery(b, "*", rest, true, true)
			default:
				return p.rangeQuery(b, "*", rest, true, false)
			}
		}
	}
	if word == "*" && field != "" {
		return b.perField(func(name string, _ *fieldMapping) (query, error) { return existsQ{field: name, boost: 1}, nil })
	}
	if hasUnescapedWildcard(word) {
		return b.wildcard(word)
	}
	return b.term(unescape(word))
}

func hasUnescapedWildcard(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == '*' || s[i] == '?' {
			return true
		}
	}
	return false
}

func (p *qsParser) rangeQuery(b *textQueryBuilder, lo, hi string, inclLo, inclHi bool) (query, error) {
	return b.perField(func(name string, _ *fieldMapping) (query, error) {
		r := map[string]any{}
		if lo != "*" {
			if inclLo {
				r["gte"] = lo
			} else {
				r["gt"] = lo
			}
		}
		if hi != "*" {
			if inclHi {
				r["lte"] = hi
			} else {
				r["lt"] = hi
			}
		}
		return p.qc.compileRange(map[string]any{name: r})
	})
}
