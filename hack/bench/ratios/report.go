package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// The bench scenarios the targets are judged on, as make bench-peers names
// them; every group whose chatload scenario is idle counts for memory.
const (
	scenarioMax   = "max"
	scenarioPaced = "paced"
	scenarioPair  = "pair"
	kindIdle      = "idle"
	heldConns     = 50000
)

// report is everything the summary prints.
type report struct {
	ours    string
	groups  []*group
	rounds  int      // rounds each system was to run; 0: not known
	skipped []string // "name: why" of idle scenarios that did not run
	machine machine
	note    string
}

// machine is where and when the runs took place.
type machine struct {
	cpus  int
	model string
	date  string
	load  string // the load averages now
}

func (rp *report) find(name string) *group {
	for _, g := range rp.groups {
		if g.name == name {
			return g
		}
	}
	return nil
}

// peers is every system but ours, in the order they first appear.
func (rp *report) peers() []string {
	var ps []string
	for _, g := range rp.groups {
		for _, s := range g.systems {
			if s != rp.ours && !slices.Contains(ps, s) {
				ps = append(ps, s)
			}
		}
	}
	return ps
}

// failure is a run that counted errors, or rounds of a system that wrote
// no figures (chatload could not run).
type failure struct {
	group, system string
	round         int // 0 for missing rounds
	errors        int64
	missing       int
}

func (f failure) String() string {
	if f.missing > 0 {
		return fmt.Sprintf("%s, %s: %d of the rounds wrote no figures", f.group, f.system, f.missing)
	}
	return fmt.Sprintf("%s, %s, round %d: %d errors", f.group, f.system, f.round, f.errors)
}

// failures returns what fails the run: the judged system's runs with
// errors, and missing rounds of any system. A peer's runs with errors (a
// peer that loses messages under the load) are its own result, returned as
// findings.
func (rp *report) failures() (fs, findings []failure) {
	systems := append([]string{rp.ours}, rp.peers()...)
	for _, g := range rp.groups {
		for _, s := range systems {
			for i, r := range g.runs[s] {
				if r.Errors > 0 {
					f := failure{group: g.name, system: s, round: i + 1, errors: r.Errors}
					if s == rp.ours {
						fs = append(fs, f)
					} else {
						findings = append(findings, f)
					}
				}
			}
			if n := len(g.runs[s]); n < rp.rounds {
				fs = append(fs, failure{group: g.name, system: s, missing: rp.rounds - n})
			}
		}
	}
	return fs, findings
}

// verdict is one target's line.
type verdict struct {
	target, scenario, measured, result string
}

func judged(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}

func notRun(target, scenario string) verdict {
	return verdict{target, scenario, "–", "not run"}
}

// verdicts judges the targets against every peer.
func (rp *report) verdicts() []verdict {
	var vs []verdict
	for _, peer := range rp.peers() {
		vs = append(vs, rp.fanout(peer), rp.paced(peer))
		vs = append(vs, rp.idleMemory(peer)...)
	}
	vs = append(vs, rp.held())
	vs = append(vs, rp.pair(rp.ours, true))
	for _, peer := range rp.peers() {
		vs = append(vs, rp.pairAgainst(peer), rp.pair(peer, false))
	}
	return vs
}

// pairAgainst is two instances of ours against two of peer: delivered per
// server CPU-second (Redis's included) in pair.
func (rp *report) pairAgainst(peer string) verdict {
	return rp.perCPU(fmt.Sprintf("two instances on Redis: delivered per CPU-second ≥ 1.5× %s's", peer), scenarioPair, peer, 1.5)
}

func (rp *report) fanout(peer string) verdict {
	return rp.perCPU(fmt.Sprintf("fan-out per server CPU-second ≥ 2× %s's", peer), scenarioMax, peer, 2)
}

// perCPU judges ours against peer on delivered messages per server
// CPU-second in scenario: at least least times as many.
func (rp *report) perCPU(target, scenario, peer string, least float64) verdict {
	g := rp.find(scenario)
	if !g.has(rp.ours, peer) {
		return notRun(target, scenario)
	}
	r := g.ratio(metrics[mCPU], rp.ours, peer)
	if r.of == 0 {
		return verdict{target, scenario, "no CPU figures", "not run"}
	}
	return verdict{target, scenario, fmt.Sprintf("%s %s's", r, peer), judged(r.of >= least)}
}

func (rp *report) paced(peer string) verdict {
	target := fmt.Sprintf("lat p99 at 200/s into 1,000 ≤ half of %s's", peer)
	g := rp.find(scenarioPaced)
	if !g.has(rp.ours, peer) {
		return notRun(target, scenarioPaced)
	}
	m := metrics[mP99]
	ours, theirs := g.median(rp.ours, m), g.median(peer, m)
	if ours <= 0 || theirs <= 0 {
		return verdict{target, scenarioPaced, "no latency figures", "not run"}
	}
	return verdict{target, scenarioPaced,
		fmt.Sprintf("%.1f ms vs %.1f ms: %.2f× %s's", ours, theirs, ours/theirs, peer), judged(ours <= theirs/2)}
}

func (rp *report) idleMemory(peer string) []verdict {
	target := fmt.Sprintf("idle RSS per connection ≤ a quarter of %s's", peer)
	var vs []verdict
	m := metrics[mRSS]
	for _, g := range rp.groups {
		if g.kind() != kindIdle || !g.has(rp.ours, peer) {
			continue
		}
		ours, theirs := g.median(rp.ours, m), g.median(peer, m)
		if ours <= 0 || theirs <= 0 {
			vs = append(vs, verdict{target, g.name, "no memory figures", "not run"})
			continue
		}
		vs = append(vs, verdict{target, g.name,
			fmt.Sprintf("%.1f KiB vs %.1f KiB: %.2f× %s's", ours, theirs, ours/theirs, peer), judged(ours <= theirs/4)})
	}
	if len(vs) == 0 {
		vs = append(vs, notRun(target, kindIdle))
	}
	return vs
}

// held is whether ours held 50,000 idle connections in every round, in the
// idle group where some system was asked to hold that many.
func (rp *report) held() verdict {
	target := fmt.Sprintf("%s holds %s idle connections", rp.ours, thousands(heldConns))
	for _, g := range rp.groups {
		if g.kind() != kindIdle || g.maxConns() < heldConns {
			continue
		}
		rs, ok := g.runs[rp.ours], 0
		for _, r := range rs {
			if r.Conns >= heldConns && r.Errors == 0 {
				ok++
			}
		}
		n := max(len(rs), rp.rounds)
		return verdict{target, g.name, fmt.Sprintf("in %d of %d rounds", ok, n), judged(n > 0 && ok == n)}
	}
	v := notRun(target, kindIdle)
	if len(rp.skipped) > 0 {
		v.measured = strings.Join(rp.skipped, "; ")
	}
	return v
}

// pair is two instances against one of system: delivered per server
// CPU-second in pair ÷ in max. It is a target for ours only.
func (rp *report) pair(system string, target bool) verdict {
	name := fmt.Sprintf("%s: two instances ≥ 70%% of one's delivered per CPU-second", system)
	if !target {
		name = fmt.Sprintf("%s: two instances ÷ one, delivered per CPU-second", system)
	}
	gp, gm := rp.find(scenarioPair), rp.find(scenarioMax)
	scenario := scenarioPair + " ÷ " + scenarioMax
	if !gp.has(system) || !gm.has(system) {
		return notRun(name, scenario)
	}
	m := metrics[mCPU]
	two, one := gp.median(system, m), gm.median(system, m)
	if two <= 0 || one <= 0 {
		return verdict{name, scenario, "no CPU figures", "not run"}
	}
	v := verdict{name, scenario, fmt.Sprintf("%.0f%% (%.2f vs %.2f CPU-s per M)", 100*one/two, two, one), "no target"}
	if target {
		v.result = judged(one/two >= 0.7)
	}
	return v
}

// write prints the report as markdown and returns the exit code: 1 when a
// run counted errors.
func (rp *report) write(w io.Writer) int {
	peers := rp.peers()
	if len(peers) == 0 {
		fmt.Fprintf(w, "## %s (no peer ran)\n\n", rp.ours)
	} else {
		fmt.Fprintf(w, "## %s against %s\n\n", rp.ours, strings.Join(peers, ", "))
	}
	fmt.Fprintf(w, "Machine: %d CPUs (%s); %s; load average now %s.\n", rp.machine.cpus, rp.machine.model, rp.machine.date, rp.machine.load)
	if rp.note != "" {
		fmt.Fprintf(w, "%s\n", rp.note)
	}
	fmt.Fprintf(w, "\nMedians over the rounds. ↑: higher is better, ratio %[1]s ÷ peer; ↓: lower is better, ratio peer ÷ %[1]s. "+
		"Every ratio above 1 is %[1]s ahead; in brackets the range of the rounds' own ratios.\n\n", rp.ours)
	head := []string{"scenario", "system", "rounds"}
	for _, m := range metrics {
		arrow := " ↓"
		if m.higher {
			arrow = " ↑"
		}
		head = append(head, m.head+arrow)
	}
	head = append(head, "load avg at the end of each round", "errors")
	row(w, head...)
	row(w, slices.Repeat([]string{"---"}, len(head))...)
	for _, g := range rp.groups {
		for _, s := range g.systems {
			cells := []string{g.name, s, fmt.Sprint(len(g.runs[s]))}
			for _, m := range metrics {
				cells = append(cells, orDash(g.median(s, m), m.format))
			}
			loads, errs := make([]string, 0, len(g.runs[s])), int64(0)
			for _, r := range g.runs[s] {
				loads = append(loads, strconv.FormatFloat(r.LoadAvg, 'f', 2, 64))
				errs += r.Errors
			}
			row(w, append(cells, strings.Join(loads, ", "), fmt.Sprint(errs))...)
		}
		for _, peer := range peers {
			if !g.has(rp.ours, peer) {
				continue
			}
			cells := []string{g.name, fmt.Sprintf("**%s vs %s**", rp.ours, peer), ""}
			for _, m := range metrics {
				cells = append(cells, g.ratio(m, rp.ours, peer).String())
			}
			row(w, append(cells, "", "")...)
		}
	}
	fmt.Fprintln(w)
	row(w, "target", "scenario", "measured", "verdict")
	row(w, "---", "---", "---", "---")
	for _, v := range rp.verdicts() {
		row(w, v.target, v.scenario, v.measured, v.result)
	}
	fs, findings := rp.failures()
	if len(findings) > 0 {
		fmt.Fprintf(w, "\nPeers' runs with errors, the peers' own result (their figures are in the medians above; chatload's log says what went wrong):\n")
		for _, f := range findings {
			fmt.Fprintf(w, "- %s\n", f)
		}
	}
	if len(fs) == 0 {
		return 0
	}
	fmt.Fprintf(w, "\nFAIL (the figures of runs with errors are in the medians above; chatload's log says what went wrong):\n")
	for _, f := range fs {
		fmt.Fprintf(w, "- %s\n", f)
	}
	return 1
}

func row(w io.Writer, cells ...string) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
}

func orDash(v float64, format func(float64) string) string {
	if v <= 0 {
		return "–"
	}
	return format(v)
}

// thousands writes n with commas: 50,000.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
