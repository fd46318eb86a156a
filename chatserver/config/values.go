package config

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

// value binds a setting to its Config field as a flag of the standard
// library, with its default and the values it accepts.
type value struct {
	arg    string // what -h shows after the flag: int, duration, password|proxy; empty for booleans
	secret bool   // the value never appears in an error
	define func(fs *flag.FlagSet, name, usage string)
}

// secret keeps v's value out of error messages (passwords, keys, URLs that
// may carry credentials).
func secret(v value) value {
	v.secret = true
	return v
}

func text(p *string, def string, rules ...rule[string]) value {
	return bind("string", "", (*flag.FlagSet).StringVar, p, def, rules)
}

func whole(p *int, def int, rules ...rule[int]) value {
	return bind("int", "a whole number", (*flag.FlagSet).IntVar, p, def, rules)
}

func number(p *float64, def float64, rules ...rule[float64]) value {
	return bind("number", "a number", (*flag.FlagSet).Float64Var, p, def, rules)
}

func duration(p *time.Duration, def time.Duration, rules ...rule[time.Duration]) value {
	return bind("duration", "a duration like 90s or 2h", (*flag.FlagSet).DurationVar, p, def, rules)
}

func boolean(p *bool, def bool) value {
	return bind("", "true or false", (*flag.FlagSet).BoolVar, p, def, nil)
}

// choice accepts one of choices, exactly as written.
func choice(p *string, def string, choices ...string) value {
	return bind(strings.Join(choices, "|"), "", (*flag.FlagSet).StringVar, p, def, []rule[string]{oneOf(choices, func(a, b string) bool { return a == b })})
}

// choiceAnyCase accepts one of choices in upper or lower case, and keeps the
// value as written.
func choiceAnyCase(p *string, def string, choices ...string) value {
	return bind(strings.Join(choices, "|"), "", (*flag.FlagSet).StringVar, p, def, []rule[string]{oneOf(choices, strings.EqualFold)})
}

// bind registers a flag through define, a FlagSet method such as IntVar,
// and narrows it to what form (what the type accepts) and rules describe.
func bind[T comparable](arg, form string, define func(*flag.FlagSet, *T, string, T, string), p *T, def T, rules []rule[T]) value {
	var forms []string
	if form != "" {
		forms = append(forms, form)
	}
	for _, r := range rules {
		forms = append(forms, r.form)
	}
	return value{arg: arg, define: func(fs *flag.FlagSet, name, usage string) {
		define(fs, p, name, def, usage)
		if len(forms) > 0 {
			f := fs.Lookup(name)
			f.Value = checked[T]{Value: f.Value, p: p, def: def, form: strings.Join(forms, ", "), rules: rules}
		}
	}}
}

// checked is a standard flag value that also refuses what its rules refuse
// (its default is always accepted), and says what it expects instead of the
// standard "parse error": "must be a whole number, at least 1".
type checked[T comparable] struct {
	flag.Value
	p     *T
	def   T
	form  string
	rules []rule[T]
}

func (v checked[T]) Set(s string) error {
	if err := v.Value.Set(s); err != nil || !v.accepts(*v.p) {
		return errors.New("must be " + v.form)
	}
	return nil
}

func (v checked[T]) accepts(x T) bool {
	return x == v.def || !slices.ContainsFunc(v.rules, func(r rule[T]) bool { return !r.ok(x) })
}

// IsBoolFlag keeps a bare boolean flag (-pprof) meaning true.
func (v checked[T]) IsBoolFlag() bool {
	b, ok := v.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// list accepts comma-separated items (blanks ignored), each turned into a T
// by parse; items names them in the error when parse refuses one.
func list[T any](p *[]T, items string, parse func(string) (T, bool)) value {
	return value{arg: "list", define: func(fs *flag.FlagSet, name, usage string) {
		fs.Func(name, usage, func(s string) error {
			var out []T
			for item := range strings.SplitSeq(s, ",") {
				if item = strings.TrimSpace(item); item == "" {
					continue
				}
				v, ok := parse(item)
				if !ok {
					return fmt.Errorf("must list %s: %q is not one", items, item)
				}
				out = append(out, v)
			}
			*p = out
			return nil
		})
	}}
}

func anyItem(s string) (string, bool) { return s, true }

func userID(s string) (string, bool) {
	id, err := chatserver.NormalizeUserID(s)
	return id, err == nil
}

func origin(s string) (string, bool) {
	u, err := url.Parse(s)
	return s, err == nil && u.Scheme != "" && u.Host != ""
}

// cidr accepts a CIDR or a single address (a /32 or /128).
func cidr(s string) (*net.IPNet, bool) {
	if ip := net.ParseIP(s); ip != nil {
		bits := 8 * net.IPv6len
		if ip4 := ip.To4(); ip4 != nil {
			ip, bits = ip4, 8*net.IPv4len
		}
		return &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}, true
	}
	_, n, err := net.ParseCIDR(s)
	return n, err == nil
}

// rule narrows what a setting accepts; form completes "must be …".
type rule[T any] struct {
	form string
	ok   func(T) bool
}

func atLeast[T cmp.Ordered](floor T) rule[T] {
	shown := fmt.Sprint(floor)
	if _, ok := any(floor).(time.Duration); ok {
		shown = shortDuration(shown)
	}
	return rule[T]{"at least " + shown, func(v T) bool { return v >= floor }}
}

// shortDuration drops the zero units time.Duration.String keeps: 1h, not
// 1h0m0s.
func shortDuration(s string) string {
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

var positive = rule[time.Duration]{"more than 0", func(d time.Duration) bool { return d > 0 }}

var replicationFactor = rule[int]{"at least 1, or -1 for the brokers' default", func(n int) bool { return n >= 1 || n == -1 }}

var address = rule[string]{"an address like :8080 or 127.0.0.1:8080", func(s string) bool {
	_, _, err := net.SplitHostPort(s)
	return err == nil
}}

func notEmpty(form string) rule[string] {
	return rule[string]{form, func(s string) bool { return s != "" }}
}

// scheme accepts URLs of the given schemes: "a redis:// or rediss:// URL".
func scheme(schemes ...string) rule[string] {
	prefixes := make([]string, len(schemes))
	for i, s := range schemes {
		prefixes[i] = s + "://"
	}
	return rule[string]{"a " + orList(prefixes) + " URL", func(s string) bool {
		return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(s, p) })
	}}
}

func oneOf(choices []string, same func(a, b string) bool) rule[string] {
	return rule[string]{orList(choices), func(s string) bool {
		return slices.ContainsFunc(choices, func(c string) bool { return same(s, c) })
	}}
}

// orList joins words as prose: "a, b or c".
func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}
