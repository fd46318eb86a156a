package es

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time_zone parameters name IANA zones
)

// dateFormat is a date field's format: "||"-separated alternatives, tried in
// order; the first one prints.
type dateFormat struct {
	spec  string
	parts []datePart
}

type datePart struct {
	name   string
	kind   int    // isoKind, epochMillisKind, epochSecondKind, layoutKind
	strict bool   // iso: 'T' required, two-digit fields
	layout string // layoutKind: Go layout
}

const (
	isoKind = iota
	epochMillisKind
	epochSecondKind
	layoutKind
)

const defaultDateFormat = "strict_date_optional_time||epoch_millis"

var namedLayouts = map[string]string{
	"strict_date": "yyyy-MM-dd", "date": "yyyy-MM-dd",
	"strict_date_time": "yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "date_time": "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
	"strict_date_time_no_millis": "yyyy-MM-dd'T'HH:mm:ssXXX", "date_time_no_millis": "yyyy-MM-dd'T'HH:mm:ssXXX",
	"basic_date": "yyyyMMdd", "basic_date_time": "yyyyMMdd'T'HHmmss.SSSXX",
	"strict_date_hour_minute_second": "yyyy-MM-dd'T'HH:mm:ss", "date_hour_minute_second": "yyyy-MM-dd'T'HH:mm:ss",
	"strict_date_hour_minute_second_millis": "yyyy-MM-dd'T'HH:mm:ss.SSS", "date_hour_minute_second_millis": "yyyy-MM-dd'T'HH:mm:ss.SSS",
	"strict_date_hour_minute": "yyyy-MM-dd'T'HH:mm", "date_hour_minute": "yyyy-MM-dd'T'HH:mm",
	"strict_year_month": "yyyy-MM", "year_month": "yyyy-MM", "strict_year": "yyyy", "year": "yyyy",
	"strict_hour_minute_second": "HH:mm:ss", "hour_minute_second": "HH:mm:ss",
}

func parseDateFormat(spec string) (*dateFormat, error) {
	if spec == "" {
		spec = defaultDateFormat
	}
	f := &dateFormat{spec: spec}
	for _, name := range strings.Split(spec, "||") {
		name = strings.TrimSpace(name)
		switch name {
		case "strict_date_optional_time", "strict_date_optional_time_nanos":
			f.parts = append(f.parts, datePart{name: name, kind: isoKind, strict: true})
		case "date_optional_time":
			f.parts = append(f.parts, datePart{name: name, kind: isoKind})
		case "epoch_millis":
			f.parts = append(f.parts, datePart{name: name, kind: epochMillisKind})
		case "epoch_second":
			f.parts = append(f.parts, datePart{name: name, kind: epochSecondKind})
		default:
			pattern := name
			if l, ok := namedLayouts[name]; ok {
				pattern = l
			}
			layout, err := javaLayout(pattern)
			if err != nil {
				return nil, fmt.Errorf("Invalid format: [%s]: %v", spec, err)
			}
			f.parts = append(f.parts, datePart{name: name, kind: layoutKind, layout: layout})
		}
	}
	return f, nil
}

// javaLetters are the Go layouts of the java.time pattern letters: for a
// run of n letters the layout at n-1, the last one for longer runs.
var javaLetters = map[byte][]string{
	'y': {"2006", "06", "2006"},
	'u': {"2006", "06", "2006"},
	'M': {"1", "01", "Jan", "January"},
	'd': {"2", "02"},
	'H': {"15"},
	'h': {"3", "03"},
	'm': {"4", "04"},
	's': {"5", "05"},
	'a': {"PM"},
	'E': {"Mon", "Mon", "Mon", "Monday"},
	'X': {"Z07", "Z0700", "Z07:00"},
	'Z': {"-0700", "-0700", "-0700", "Z07:00"},
	'z': {"MST"},
}

// javaLayout translates the common letters of a java.time pattern into a Go
// layout.
func javaLayout(p string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(p); {
		c := p[i]
		if c == '\'' {
			j := strings.IndexByte(p[i+1:], '\'')
			if j < 0 {
				return "", fmt.Errorf("unterminated quote")
			}
			b.WriteString(p[i+1 : i+1+j])
			i += j + 2
			continue
		}
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			b.WriteByte(c)
			i++
			continue
		}
		n := 1
		for i+n < len(p) && p[i+n] == c {
			n++
		}
		l, ok := javaLetters[c]
		switch {
		case c == 'S':
			l = []string{strings.Repeat("0", n)}
			if s := b.String(); !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, ",") {
				return "", fmt.Errorf("fraction of second must follow a '.'")
			}
		case !ok:
			return "", fmt.Errorf("Unknown pattern letter: %c", c)
		}
		b.WriteString(l[min(n, len(l))-1])
		i += n
	}
	return b.String(), nil
}

// parse reads s as a date in milliseconds. roundUp fills the fields s leaves
// out with their largest value (2026-03-01 becomes 23:59:59.999 of that
// day), as Elasticsearch does for upper bounds.
func (f *dateFormat) parse(s string, roundUp bool, loc *time.Location) (int64, error) {
	if loc == nil {
		loc = time.UTC
	}
	for _, p := range f.parts {
		switch p.kind {
		case isoKind:
			if ms, ok := parseISO(s, p.strict, roundUp, loc); ok {
				return ms, nil
			}
		case epochMillisKind, epochSecondKind:
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || strings.ContainsAny(s, "eEnN") {
				continue
			}
			if p.kind == epochSecondKind {
				v *= 1000
			}
			return int64(math.Floor(v)), nil
		case layoutKind:
			if t, err := time.ParseInLocation(p.layout, s, loc); err == nil {
				return t.UnixMilli(), nil
			}
		}
	}
	return 0, fmt.Errorf("failed to parse date field [%s] with format [%s]", s, f.spec)
}

func (f *dateFormat) format(ms int64, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	p := f.parts[0]
	switch p.kind {
	case epochMillisKind:
		return strconv.FormatInt(ms, 10)
	case epochSecondKind:
		if ms%1000 == 0 {
			return strconv.FormatInt(ms/1000, 10)
		}
		return strconv.FormatFloat(float64(ms)/1000, 'f', -1, 64)
	case layoutKind:
		return time.UnixMilli(ms).In(loc).Format(p.layout)
	}
	return time.UnixMilli(ms).In(loc).Format("2006-01-02T15:04:05.000Z07:00")
}

// parseISO reads yyyy[-MM[-dd[THH[:mm[:ss[.fraction]]]]]][zone].
func parseISO(s string, strict, roundUp bool, loc *time.Location) (int64, bool) {
	i := 0
	num := func(min, max int) (int, bool) {
		j := i
		for j < len(s) && j-i < max && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j-i < min {
			return 0, false
		}
		v, _ := strconv.Atoi(s[i:j])
		i = j
		return v, true
	}
	two := 2
	if !strict {
		two = 1
	}
	year, ok := num(4, 9)
	if !ok {
		return 0, false
	}
	month, day, hour, minute, sec, nanos := 1, 1, 0, 0, 0, 0
	has := 1 // fields present: 1 year, 2 month, 3 day, 4 hour, 5 minute, 6 second, 7 fraction
	if i < len(s) && s[i] == '-' {
		i++
		if month, ok = num(two, 2); !ok {
			return 0, false
		}
		has = 2
		if i < len(s) && s[i] == '-' {
			i++
			if day, ok = num(two, 2); !ok {
				return 0, false
			}
			has = 3
			if i < len(s) && (s[i] == 'T' || !strict && s[i] == ' ') {
				i++
				if hour, ok = num(two, 2); !ok {
					return 0, false
				}
				has = 4
				if i < len(s) && s[i] == ':' {
					i++
					if minute, ok = num(two, 2); !ok {
						return 0, false
					}
					has = 5
					if i < len(s) && s[i] == ':' {
						i++
						if sec, ok = num(two, 2); !ok {
							return 0, false
						}
						has = 6
						if i < len(s) && (s[i] == '.' || s[i] == ',') {
							i++
							start := i
							frac, ok := num(1, 9)
							if !ok {
								return 0, false
							}
							for d := i - start; d < 9; d++ {
								frac *= 10
							}
							nanos = frac
							has = 7
						}
					}
				}
			}
		}
	}
	zone := loc
	if i < len(s) {
		z := s[i:]
		switch {
		case z == "Z" || z == "z":
			zone = time.UTC
		case z[0] == '+' || z[0] == '-':
			sign := 1
			if z[0] == '-' {
				sign = -1
			}
			z = strings.ReplaceAll(z[1:], ":", "")
			if len(z) != 2 && len(z) != 4 {
				return 0, false
			}
			for _, c := range z {
				if c < '0' || c > '9' {
					return 0, false
				}
			}
			h, _ := strconv.Atoi(z[:2])
			m := 0
			if len(z) == 4 {
				m, _ = strconv.Atoi(z[2:])
			}
			if h > 18 || m > 59 {
				return 0, false
			}
			zone = time.FixedZone("", sign*(h*3600+m*60))
		default:
			return 0, false
		}
	}
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	if roundUp {
		if has < 2 {
			month = 12
		}
		if has < 3 {
			day = time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
		}
		if has < 4 {
			hour = 23
		}
		if has < 5 {
			minute = 59
		}
		if has < 6 {
			sec = 59
		}
		if has < 7 {
			nanos = 999_999_999
		}
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nanos, zone)
	if t.Day() != day { // 2026-02-30
		return 0, false
	}
	return t.UnixMilli(), true
}

// parseDateMath reads a date or date-math expression: now, now-1h/d,
// 2026-03-01||+1M. roundUp makes rounding go to the last millisecond of the
// unit, as for gt and lte bounds.
func parseDateMath(expr string, f *dateFormat, roundUp bool, now time.Time, loc *time.Location) (int64, error) {
	if loc == nil {
		loc = time.UTC
	}
	var base time.Time
	var math string
	switch {
	case strings.HasPrefix(expr, "now"):
		base, math = now, expr[3:]
	case strings.Contains(expr, "||"):
		anchor, rest, _ := strings.Cut(expr, "||")
		ms, err := f.parse(anchor, false, loc)
		if err != nil {
			return 0, err
		}
		base, math = time.UnixMilli(ms), rest
	default:
		return f.parse(expr, roundUp, loc)
	}
	t := base.In(loc)
	for i := 0; i < len(math); {
		op := math[i]
		i++
		if op == '/' {
			if i >= len(math) {
				return 0, fmt.Errorf("truncated date math [%s]", expr)
			}
			start, err := truncate(t, math[i])
			if err != nil {
				return 0, fmt.Errorf("%v in date math [%s]", err, expr)
			}
			t = start
			if roundUp {
				t = addUnit(start, math[i], 1).Add(-time.Millisecond)
			}
			i++
			continue
		}
		if op != '+' && op != '-' {
			return 0, fmt.Errorf("operator not supported for date math [%s]", expr)
		}
		j := i
		for j < len(math) && math[j] >= '0' && math[j] <= '9' {
			j++
		}
		n := 1
		if j > i {
			n, _ = strconv.Atoi(math[i:j])
		}
		if j >= len(math) {
			return 0, fmt.Errorf("truncated date math [%s]", expr)
		}
		if op == '-' {
			n = -n
		}
		if !strings.ContainsRune("yMwdhHms", rune(math[j])) {
			return 0, fmt.Errorf("unit [%c] not supported for date math [%s]", math[j], expr)
		}
		t = addUnit(t, math[j], n)
		i = j + 1
	}
	return t.UnixMilli(), nil
}

func addUnit(t time.Time, unit byte, n int) time.Time {
	switch unit {
	case 'y':
		return t.AddDate(n, 0, 0)
	case 'M':
		return t.AddDate(0, n, 0)
	case 'w':
		return t.AddDate(0, 0, 7*n)
	case 'd':
		return t.AddDate(0, 0, n)
	case 'h', 'H':
		return t.Add(time.Duration(n) * time.Hour)
	case 'm':
		return t.Add(time.Duration(n) * time.Minute)
	case 's':
		return t.Add(time.Duration(n) * time.Second)
	}
	return t
}

// truncate rounds t down to the start of the unit in t's location.
func truncate(t time.Time, unit byte) (time.Time, error) {
	y, mo, d := t.Date()
	loc := t.Location()
	switch unit {
	case 'y':
		return time.Date(y, 1, 1, 0, 0, 0, 0, loc), nil
	case 'q':
		return time.Date(y, (mo-1)/3*3+1, 1, 0, 0, 0, 0, loc), nil
	case 'M':
		return time.Date(y, mo, 1, 0, 0, 0, 0, loc), nil
	case 'w':
		wd := (int(t.Weekday()) + 6) % 7 // Monday first
		return time.Date(y, mo, d-wd, 0, 0, 0, 0, loc), nil
	case 'd':
		return time.Date(y, mo, d, 0, 0, 0, 0, loc), nil
	case 'h', 'H':
		return time.Date(y, mo, d, t.Hour(), 0, 0, 0, loc), nil
	case 'm':
		return time.Date(y, mo, d, t.Hour(), t.Minute(), 0, 0, loc), nil
	case 's':
		return time.Date(y, mo, d, t.Hour(), t.Minute(), t.Second(), 0, loc), nil
	}
	return t, fmt.Errorf("unit [%c] not supported for rounding", unit)
}

// parseZone reads a time_zone parameter: Z, UTC, +01:00, -0530, Europe/Paris.
func parseZone(s string) (*time.Location, error) {
	if s == "" || s == "Z" || s == "UTC" || s == "utc" {
		return time.UTC, nil
	}
	if s[0] == '+' || s[0] == '-' {
		if _, ok := parseISO("2000-01-01T00:00:00"+s, true, false, time.UTC); ok {
			sign := 1
			if s[0] == '-' {
				sign = -1
			}
			z := strings.ReplaceAll(s[1:], ":", "")
			h, _ := strconv.Atoi(z[:2])
			m := 0
			if len(z) == 4 {
				m, _ = strconv.Atoi(z[2:])
			}
			return time.FixedZone(s, sign*(h*3600+m*60)), nil
		}
	}
	loc, err := time.LoadLocation(s)
	if err != nil {
		return nil, badRequest("Unknown time-zone ID: %s", s)
	}
	return loc, nil
}

// parseDuration reads a time value such as 1s, 500ms, 2m, 1h, 1d; -1 is
// returned as a negative duration.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "-1" {
		return -1, nil
	}
	if s == "0" {
		return 0, nil
	}
	units := []struct {
		suffix string
		d      time.Duration
	}{{"nanos", time.Nanosecond}, {"micros", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || v < 0 {
				break
			}
			return time.Duration(v * float64(u.d)), nil
		}
	}
	return 0, fmt.Errorf("failed to parse setting with value [%s] as a time value: unit is missing or unrecognized", s)
}
