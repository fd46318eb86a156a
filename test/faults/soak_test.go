//go:build faults

package faults

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The soak: the campaign's mixed load on the two-instance system for
// SOAK_DURATION with no fault. It samples the resources of every chatserver
// process (the two instances and the indexer) and fails when they grow, when
// one of them logs a warning or an error, or when the checker of the fault
// rounds finds the system short of the history (soak.mk).

const (
	// soakWarmUp is left out of the growth check: caches, pools and the
	// heap fill up in it.
	soakWarmUp  = time.Minute
	sampleEvery = 10 * time.Second
	printEvery  = time.Minute
	// minSoak leaves at least two samples in each third after the warm-up.
	minSoak = 2 * time.Minute
	// soakSlack bounds what a soak takes besides its duration: building,
	// starting the system, the checks and stopping.
	soakSlack = 20 * time.Minute
)

// soakDuration reads SOAK_DURATION; it is an error when it is unset.
func soakDuration() (time.Duration, error) {
	v := os.Getenv("SOAK_DURATION")
	if v == "" {
		return 0, fmt.Errorf("SOAK_DURATION is not set: run the soak with make soak DURATION=30m")
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < minSoak {
		return 0, fmt.Errorf("SOAK_DURATION=%q: want a duration of at least %v, such as 30m", v, minSoak)
	}
	return d, nil
}

// soakFlags sets the test binary's flags by SOAK_DURATION, as FAULTS picks
// the faults: unset, TestSoak is left out (-test.skip), so that the
// campaign neither runs nor lists it; set, a run without a timeout of its
// own (make soak passes -timeout 0) gets one from the soak's length.
func soakFlags() error {
	flag.Parse()
	if os.Getenv("SOAK_DURATION") == "" {
		if flag.Lookup("test.skip").Value.String() != "" {
			return nil // a -skip of the caller's: TestSoak says what it misses if it runs
		}
		return flag.Set("test.skip", "^TestSoak$")
	}
	d, err := soakDuration()
	if err != nil {
		return err
	}
	if timeout := flag.Lookup("test.timeout"); timeout.Value.String() == "0s" {
		return timeout.Value.Set((d + soakSlack).String())
	}
	return nil
}

func TestSoak(t *testing.T) {
	d, err := soakDuration()
	if err != nil {
		t.Fatal(err)
	}
	r := multiRig(t)
	if err := r.register(); err != nil {
		t.Fatal(err)
	}
	w := newWatch(t, append(slices.Clone(r.chats), r.indexer))
	f := fault{name: "soak", chatUp: true, inject: func(*rig, *load, int, time.Duration) (time.Time, error) {
		w.run(d)
		return time.Now(), nil
	}}
	v := r.round(f, 0, 0)
	rw := row{fault: f.name}
	rw.add(v)
	w.judge()

	table := w.table(d, rw)
	if path := os.Getenv("SOAK_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(table), 0o600); err != nil {
			t.Error(err)
		}
	} else {
		t.Logf("\n%s", table)
	}
	for _, p := range append(v.problems, w.problems...) {
		t.Error(p)
	}
}

// gauge is a figure of /metrics the soak follows, with the growth it
// allows: the mean of the last third of the samples may exceed that of the
// first third by rel of it plus abs.
type gauge struct {
	metric, label string
	rel, abs      float64
	format        func(float64) string
}

var gauges = []gauge{
	{"go_goroutines", "goroutines", 0.2, 10, formatCount},
	{"process_open_fds", "open files", 0.2, 10, formatCount},
	{"process_resident_memory_bytes", "RSS", 0.3, 16 << 20, formatMiB},
}

func formatCount(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }
func formatMiB(v float64) string   { return strconv.FormatFloat(v/(1<<20), 'f', 1, 64) + " MiB" }

// series is what the soak saw of one process.
type series struct {
	s       *server
	samples [][]float64 // after the warm-up, one value per gauge
	misses  []string    // scrapes that failed
	logged  logScan
	failed  bool
	trends  []trend // per gauge
}

// logLine is a warning or error message a process logged, how often, and
// the first such line.
type logLine struct {
	level, msg, example string
	n                   int
}

// watch samples the processes of the soak.
type watch struct {
	t        *testing.T
	series   []*series
	problems []string
}

func newWatch(t *testing.T, servers []*server) *watch {
	w := &watch{t: t}
	for _, s := range servers {
		w.series = append(w.series, &series{s: s})
	}
	return w
}

// run samples every process every sampleEvery for d and prints the latest
// figures every printEvery; it ends early when a process exits.
func (w *watch) run(d time.Duration) {
	start := time.Now()
	nextPrint := start.Add(printEvery)
	for tick := start.Add(sampleEvery); ; tick = tick.Add(sampleEvery) {
		time.Sleep(time.Until(tick))
		var line []string
		for _, sr := range w.series {
			if !sr.s.p.running() {
				w.fail(sr, "exited during the soak: %s", sr.s.p.tail(20))
				return
			}
			v, err := scrape(sr.s)
			if err != nil {
				sr.misses = append(sr.misses, err.Error())
				line = append(line, fmt.Sprintf("%s: %v", sr.s.name, err))
				continue
			}
			if tick.Sub(start) >= soakWarmUp {
				sr.samples = append(sr.samples, v)
			}
			line = append(line, sr.s.name+": "+describe(v))
		}
		if !tick.Before(nextPrint) {
			w.t.Logf("soak %v: %s", tick.Sub(start).Round(time.Second), strings.Join(line, "; "))
			nextPrint = nextPrint.Add(printEvery)
		}
		if tick.Sub(start) >= d {
			return
		}
	}
}

// fail records a problem of sr's process.
func (w *watch) fail(sr *series, format string, args ...any) {
	sr.failed = true
	w.problems = append(w.problems, sr.s.name+": "+fmt.Sprintf(format, args...))
}

func describe(v []float64) string {
	parts := make([]string, len(gauges))
	for i, g := range gauges {
		parts[i] = g.format(v[i]) + " " + g.label
	}
	return strings.Join(parts, ", ")
}

// scrape reads the gauges from s's /metrics.
func scrape(s *server) ([]float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), replyTimeout)
	defer cancel()
	status, b, err := rest(ctx, http.MethodGet, s.base+"/metrics", "", nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %d", status)
	}
	values := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if f, err := strconv.ParseFloat(value, 64); err == nil {
			values[name] = f
		}
	}
	out := make([]float64, len(gauges))
	for i, g := range gauges {
		v, ok := values[g.metric]
		if !ok {
			return nil, fmt.Errorf("/metrics has no %s", g.metric)
		}
		out[i] = v
	}
	return out, nil
}

// judge holds every process to its gauges' limits, to one run, and to a
// log without warnings and errors.
func (w *watch) judge() {
	for _, sr := range w.series {
		if runs := sr.s.p.started(); runs != 1 {
			w.fail(sr, "ran %d times during the soak", runs)
		}
		sr.logged = scanLog(sr.s.p.output())
		for _, l := range sr.logged.unexpected {
			w.fail(sr, "logged %d times at %s %q, first: %s", l.n, l.level, l.msg, l.example)
		}
		trends, err := growth(sr.samples)
		if err != nil {
			w.fail(sr, "%v (scrapes failed: %s)", err, strings.Join(sr.misses, "; "))
			continue
		}
		sr.trends = trends
		for i, tr := range trends {
			if g := gauges[i]; tr.last > tr.limit {
				w.fail(sr, "%s grew from %s to %s (the means of the first and the last third of the samples), beyond %s",
					g.label, g.format(tr.first), g.format(tr.last), g.format(tr.limit))
			}
		}
	}
}

// trend is how a gauge of a process went: the means of the first and the
// last third of its samples, and how high the last may be.
type trend struct{ first, last, limit float64 }

// growth returns the trend of every gauge in samples; it is an error when
// a third holds fewer than two samples.
func growth(samples [][]float64) ([]trend, error) {
	third := len(samples) / 3
	if third < 2 {
		return nil, fmt.Errorf("%d samples after the warm-up, too few to judge growth", len(samples))
	}
	out := make([]trend, len(gauges))
	for i, g := range gauges {
		first, last := mean(samples[:third], i), mean(samples[len(samples)-third:], i)
		out[i] = trend{first: first, last: last, limit: first*(1+g.rel) + g.abs}
	}
	return out, nil
}

// started returns how often p was started.
func (p *proc) started() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runs
}

func mean(samples [][]float64, i int) float64 {
	sum := 0.0
	for _, s := range samples {
		sum += s[i]
	}
	return sum / float64(len(samples))
}

// logScan sorts the warnings and errors of a process's log.
type logScan struct {
	unexpected []logLine // by message, numbers masked
	tolerated  int
}

// numbers are masked in a message so that one kind of record, whatever its
// offsets and ports, counts as one.
var numbers = regexp.MustCompile(`[0-9]+`)

// scanLog returns the warnings and errors of a process's log. It tolerates
// one kind that a busy machine causes, not the load: a send, edit or
// reaction refused because the stand-in MongoDB stalled past the server's
// bound on a store call (the round counts those refusals already:
// storeRefusals).
func scanLog(output string) logScan {
	var out logScan
	for _, line := range strings.Split(output, "\n") {
		var e struct{ Level, Msg, Type, Err string }
		if json.Unmarshal([]byte(line), &e) != nil || (e.Level != "WARN" && e.Level != "ERROR") {
			continue // not a log record (the run header, the indexer's banner) or not a warning
		}
		if storeRefusal(e.Msg, e.Type, e.Err) {
			out.tolerated++
			continue
		}
		msg := numbers.ReplaceAllString(e.Msg, "N")
		i := slices.IndexFunc(out.unexpected, func(l logLine) bool { return l.level == e.Level && l.msg == msg })
		if i < 0 {
			out.unexpected = append(out.unexpected, logLine{level: e.Level, msg: msg, example: line})
			i = len(out.unexpected) - 1
		}
		out.unexpected[i].n++
	}
	return out
}

// table renders the processes' figures and the history's row as Markdown.
func (w *watch) table(d time.Duration, rw row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Soak, %v of the campaign's load with no fault, %s.\n\n", d, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	b.WriteString("| process | samples |")
	for _, g := range gauges {
		fmt.Fprintf(&b, " %s: first third → last third (limit) |", g.label)
	}
	b.WriteString(" failed scrapes | warnings / errors logged (tolerated) | result |\n|")
	b.WriteString(strings.Repeat(" --- |", len(gauges)+5) + "\n")
	for _, sr := range w.series {
		fmt.Fprintf(&b, "| %s | %d |", sr.s.name, len(sr.samples))
		for i, g := range gauges {
			if i < len(sr.trends) {
				tr := sr.trends[i]
				fmt.Fprintf(&b, " %s → %s (%s) |", g.format(tr.first), g.format(tr.last), g.format(tr.limit))
			} else {
				b.WriteString(" - |")
			}
		}
		logged := 0
		for _, l := range sr.logged.unexpected {
			logged += l.n
		}
		result := "pass"
		if sr.failed {
			result = "**FAIL**"
		}
		fmt.Fprintf(&b, " %d | %d (%d tolerated) | %s |\n", len(sr.misses), logged, sr.logged.tolerated, result)
	}
	// The history's columns are the campaign's: its table without the title.
	_, history, _ := strings.Cut(reportTable([]row{rw}, ""), "\n\n")
	b.WriteString("\n" + history)
	return b.String()
}

func TestGrowth(t *testing.T) {
	const mb = 1 << 20
	flat := func(n int) [][]float64 {
		var out [][]float64
		for k := range n {
			out = append(out, []float64{float64(34 + k%3), 31, float64(30*mb + k%2*mb)})
		}
		return out
	}
	spike := flat(12)
	spike[6] = []float64{200, 90, 90 * mb}
	climb := flat(12)
	for k := range climb {
		climb[k][1] += float64(5 * k)
	}
	for name, tc := range map[string]struct {
		samples [][]float64
		grew    []bool // per gauge; nil: too few samples
	}{
		"flat figures pass":             {flat(12), []bool{false, false, false}},
		"a spike in the middle passes":  {spike, []bool{false, false, false}},
		"open files climbing fail":      {climb, []bool{false, true, false}},
		"five samples are too few":      {flat(5), nil},
		"six samples are enough to say": {flat(6), []bool{false, false, false}},
	} {
		t.Run(name, func(t *testing.T) {
			trends, err := growth(tc.samples)
			if (err != nil) != (tc.grew == nil) {
				t.Fatalf("growth: %v, want an error: %v", err, tc.grew == nil)
			}
			for i, tr := range trends {
				if grew := tr.last > tr.limit; grew != tc.grew[i] {
					t.Errorf("%s: %+v grew %v, want %v", gauges[i].label, tr, grew, tc.grew[i])
				}
			}
		})
	}
}

func TestLogScan(t *testing.T) {
	for name, tc := range map[string]struct {
		log                   string
		unexpected, tolerated int
	}{
		"info and other lines pass": {log: "--- run 1\nindexer: probes on 127.0.0.1:1\n" +
			`{"level":"INFO","msg":"chat server listening"}`, unexpected: 0},
		"a warning fails": {log: `{"level":"WARN","msg":"redis: presence heartbeat failed"}`, unexpected: 1},
		"an error fails":  {log: `{"level":"ERROR","msg":"request failed"}`, unexpected: 1},
		"one message with other numbers counts once": {log: `{"level":"WARN","msg":"kafka reader: partition 1 at offset 7"}` + "\n" +
			`{"level":"WARN","msg":"kafka reader: partition 2 at offset 9"}`, unexpected: 1},
		"a kafka fetch that timed out is a finding":       {log: `{"level":"WARN","msg":"kafka reader: the kafka reader got an unknown error reading partition 2 of t at offset 4: read tcp 127.0.0.1:1->127.0.0.1:2: i/o timeout"}`, unexpected: 1},
		"a send refused for a stalled store is tolerated": {log: `{"level":"ERROR","msg":"command failed","type":"send","err":"mongodb: insert: context deadline exceeded"}`, tolerated: 1},
		"another command that failed fails":               {log: `{"level":"ERROR","msg":"command failed","type":"join","err":"mongodb: find: context deadline exceeded"}`, unexpected: 1},
	} {
		t.Run(name, func(t *testing.T) {
			got := scanLog(tc.log)
			if len(got.unexpected) != tc.unexpected || got.tolerated != tc.tolerated {
				t.Errorf("scanLog: %d unexpected (%+v), %d tolerated; want %d, %d", len(got.unexpected), got.unexpected, got.tolerated, tc.unexpected, tc.tolerated)
			}
		})
	}
}
