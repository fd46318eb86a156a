package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// run is what the summary reads of one line of chatload -json: one
// scenario against one system in one round. Figures a scenario does not
// measure are 0.
type run struct {
	System              string  `json:"system"`
	Scenario            string  `json:"scenario"`
	Conns               int     `json:"conns"`
	DeliveredPerS       float64 `json:"delivered_per_s"`
	LatP50Ms            float64 `json:"lat_p50_ms"`
	LatP99Ms            float64 `json:"lat_p99_ms"`
	SrvCPUPerMDelivered float64 `json:"srv_cpu_s_per_m_delivered"`
	RSSKiBPerConn       float64 `json:"rss_kib_per_conn"`
	ConnectsPerS        float64 `json:"connects_per_s"`
	Errors              int64   `json:"errors"`
	LoadAvg             float64 `json:"load_avg"` // 1-minute, at the scenario's end
}

// group is the runs of one bench scenario (max, paced, idle5k, pair, …),
// each system's in the order they ran: its rounds.
type group struct {
	name    string
	systems []string // in order of their first run
	runs    map[string][]run
}

// readGroup reads the JSON lines of one bench scenario.
func readGroup(name string, r io.Reader) (*group, error) {
	g := &group{name: name, runs: map[string][]run{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var x run
		if err := json.Unmarshal([]byte(line), &x); err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", name, n, err)
		}
		if x.System == "" || x.Scenario == "" {
			return nil, fmt.Errorf("%s: line %d: no system or scenario", name, n)
		}
		if _, ok := g.runs[x.System]; !ok {
			g.systems = append(g.systems, x.System)
		}
		g.runs[x.System] = append(g.runs[x.System], x)
	}
	return g, sc.Err()
}

// has reports whether every one of systems ran in g (false for no group).
func (g *group) has(systems ...string) bool {
	if g == nil {
		return false
	}
	for _, s := range systems {
		if len(g.runs[s]) == 0 {
			return false
		}
	}
	return true
}

// kind is the chatload scenario the group ran (idle for every idle group).
func (g *group) kind() string {
	for _, s := range g.systems {
		return g.runs[s][0].Scenario
	}
	return ""
}

// maxConns is the most connections any run of the group had.
func (g *group) maxConns() int {
	n := 0
	for _, rs := range g.runs {
		for _, r := range rs {
			n = max(n, r.Conns)
		}
	}
	return n
}

// metric is one column of the table.
type metric struct {
	head   string
	higher bool // higher is better
	get    func(*run) float64
	format func(float64) string
}

var metrics = []metric{
	{"delivered/s", true, func(r *run) float64 { return r.DeliveredPerS }, rate},
	{"server CPU-s per M delivered", false, func(r *run) float64 { return r.SrvCPUPerMDelivered }, fixed(2)},
	{"lat p50 ms", false, func(r *run) float64 { return r.LatP50Ms }, fixed(1)},
	{"lat p99 ms", false, func(r *run) float64 { return r.LatP99Ms }, fixed(1)},
	{"RSS KiB per idle conn", false, func(r *run) float64 { return r.RSSKiBPerConn }, fixed(1)},
	{"connects/s", true, func(r *run) float64 { return r.ConnectsPerS }, rate},
}

// Indexes into metrics for the targets.
const (
	mDelivered = iota
	mCPU
	mP50
	mP99
	mRSS
	mConnects
)

// median of m over a system's rounds; 0 when it has none or m was not
// measured (chatload writes 0 for what a scenario does not measure).
func (g *group) median(system string, m metric) float64 {
	rs := g.runs[system]
	vs := make([]float64, len(rs))
	for i := range rs {
		vs[i] = m.get(&rs[i])
	}
	return median(vs)
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	vs = slices.Clone(vs)
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

// better is how many times better ours is than peer on m: ours ÷ peer where
// higher is better, peer ÷ ours where lower is; 0 when either is unmeasured.
func better(m metric, ours, peer float64) float64 {
	if ours <= 0 || peer <= 0 {
		return 0
	}
	if m.higher {
		return ours / peer
	}
	return peer / ours
}

// ratio is ours against peer on m: of the medians, and the range of the
// rounds' own ratios (round i of one against round i of the other: the runs
// of the same minute).
type ratio struct {
	of, lo, hi float64
	rounds     int
}

func (g *group) ratio(m metric, ours, peer string) ratio {
	r := ratio{of: better(m, g.median(ours, m), g.median(peer, m))}
	a, b := g.runs[ours], g.runs[peer]
	for i := range min(len(a), len(b)) {
		x := better(m, m.get(&a[i]), m.get(&b[i]))
		if x == 0 {
			continue
		}
		if r.rounds == 0 || x < r.lo {
			r.lo = x
		}
		if r.rounds == 0 || x > r.hi {
			r.hi = x
		}
		r.rounds++
	}
	return r
}

func (r ratio) String() string {
	if r.of == 0 {
		return "–"
	}
	s := strconv.FormatFloat(r.of, 'f', 2, 64) + "×"
	if r.rounds > 1 {
		s += fmt.Sprintf(" (%.2f–%.2f)", r.lo, r.hi)
	}
	return s
}

// rate writes a rate in whole units with thousands separated: 1,153,204.
func rate(v float64) string { return thousands(int(math.Round(v))) }

func fixed(prec int) func(float64) string {
	return func(v float64) string { return strconv.FormatFloat(v, 'f', prec, 64) }
}
