package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// line is one chatload -json line with the fields a test sets.
func line(system, scenario string, set func(*run)) string {
	r := run{System: system, Scenario: scenario, LoadAvg: 1.75}
	if set != nil {
		set(&r)
	}
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func mustGroup(t *testing.T, name string, lines ...string) *group {
	t.Helper()
	g, err := readGroup(name, strings.NewReader(strings.Join(lines, "\n")+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func fanout(cpuPerM, p99 float64) func(*run) {
	return func(r *run) { r.SrvCPUPerMDelivered, r.LatP99Ms, r.DeliveredPerS = cpuPerM, p99, 1e6/cpuPerM }
}

func idle(conns int, kib float64, errors int64) func(*run) {
	return func(r *run) { r.Conns, r.RSSKiBPerConn, r.ConnectsPerS, r.Errors = conns, kib, 1000, errors }
}

func TestReadGroup(t *testing.T) {
	for name, tc := range map[string]struct {
		input   string
		wantErr string
		systems string // system:rounds, in order
	}{
		"RoundsCountedPerSystemInOrderOfFirstRun": {
			input:   strings.Join([]string{line("a", "max", nil), line("b", "max", nil), "", line("b", "max", nil), line("a", "max", nil), line("a", "max", nil)}, "\n"),
			systems: "a:3 b:2",
		},
		"NotJSONIsRefusedWithItsLine": {input: line("a", "max", nil) + "\n{not json", wantErr: "max: line 2"},
		"NoSystemIsRefused":           {input: `{"scenario":"max"}`, wantErr: "no system or scenario"},
		"NoScenarioIsRefused":         {input: `{"system":"a"}`, wantErr: "no system or scenario"},
	} {
		t.Run(name, func(t *testing.T) {
			g, err := readGroup("max", strings.NewReader(tc.input))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range g.systems {
				got = append(got, fmt.Sprintf("%s:%d", s, len(g.runs[s])))
			}
			if strings.Join(got, " ") != tc.systems {
				t.Errorf("systems %q, want %q", strings.Join(got, " "), tc.systems)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	for name, tc := range map[string]struct {
		in   []float64
		want float64
	}{
		"NoneIsZero":           {nil, 0},
		"OddCountIsTheMiddle":  {[]float64{9, 1, 5}, 5},
		"EvenCountIsTheMean":   {[]float64{4, 1, 3, 10}, 3.5},
		"TwoRoundsAreAveraged": {[]float64{2, 3}, 2.5},
	} {
		t.Run(name, func(t *testing.T) {
			if got := median(tc.in); got != tc.want {
				t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestRatio(t *testing.T) {
	g := mustGroup(t, "max",
		line("ours", "max", func(r *run) { r.DeliveredPerS, r.SrvCPUPerMDelivered = 1000, 1 }),
		line("peer", "max", func(r *run) { r.DeliveredPerS, r.SrvCPUPerMDelivered = 500, 4 }),
		line("peer", "max", func(r *run) { r.DeliveredPerS, r.SrvCPUPerMDelivered = 250, 2 }),
		line("ours", "max", func(r *run) { r.DeliveredPerS, r.SrvCPUPerMDelivered = 1000, 1 }),
	)
	for name, tc := range map[string]struct {
		m    metric
		want string
	}{
		"HigherIsBetterDividesOursByThePeers":    {metrics[mDelivered], "2.67× (2.00–4.00)"},
		"LowerIsBetterDividesThePeersByOurs":     {metrics[mCPU], "3.00× (2.00–4.00)"},
		"UnmeasuredOnEitherSideHasNoRatioAtAll":  {metrics[mRSS], "–"},
		"UnmeasuredConnectsHaveNoRatioEitherWay": {metrics[mConnects], "–"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := g.ratio(tc.m, "ours", "peer").String(); got != tc.want {
				t.Errorf("ratio %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRatioOfOneRoundHasNoRange(t *testing.T) {
	g := mustGroup(t, "max", line("ours", "max", fanout(1, 10)), line("peer", "max", fanout(3, 10)))
	if got := g.ratio(metrics[mCPU], "ours", "peer").String(); got != "3.00×" {
		t.Errorf("ratio %q, want 3.00×", got)
	}
}

// verdictOf finds the verdict whose target starts with prefix.
func verdictOf(t *testing.T, rp *report, prefix string) verdict {
	t.Helper()
	for _, v := range rp.verdicts() {
		if strings.HasPrefix(v.target, prefix) {
			return v
		}
	}
	t.Fatalf("no verdict %q in %v", prefix, rp.verdicts())
	return verdict{}
}

func TestVerdicts(t *testing.T) {
	for name, tc := range map[string]struct {
		groups  map[string][]string
		skipped []string
		target  string
		want    string // the verdict, then the measured text if it matters
	}{
		"FanOutTwiceThePeersPerCPUSecondIsMet": {
			groups: map[string][]string{"max": {line("chatcluster", "max", fanout(1, 10)), line("socketio", "max", fanout(2, 10))}},
			target: "fan-out", want: "met",
		},
		"FanOutUnderTwiceThePeersIsMissed": {
			groups: map[string][]string{"max": {line("chatcluster", "max", fanout(1, 10)), line("socketio", "max", fanout(1.9, 10))}},
			target: "fan-out", want: "MISSED",
		},
		"FanOutWithoutThePeerIsNotRun": {
			groups: map[string][]string{"max": {line("chatcluster", "max", fanout(1, 10))}, "paced": {line("socketio", "paced", fanout(1, 10))}},
			target: "fan-out", want: "not run",
		},
		"FanOutWithoutCPUFiguresIsNotRun": {
			groups: map[string][]string{"max": {line("chatcluster", "max", nil), line("socketio", "max", nil)}},
			target: "fan-out", want: "not run no CPU figures",
		},
		"PacedP99HalfThePeersIsMet": {
			groups: map[string][]string{"paced": {line("chatcluster", "paced", fanout(1, 20)), line("socketio", "paced", fanout(1, 40))}},
			target: "lat p99", want: "met 20.0 ms vs 40.0 ms: 0.50× socketio's",
		},
		"PacedP99OverHalfThePeersIsMissed": {
			groups: map[string][]string{"paced": {line("chatcluster", "paced", fanout(1, 21)), line("socketio", "paced", fanout(1, 40))}},
			target: "lat p99", want: "MISSED",
		},
		"IdleMemoryAQuarterOfThePeersIsMet": {
			groups: map[string][]string{"idle5k": {line("chatcluster", "idle", idle(5000, 10, 0)), line("socketio", "idle", idle(5000, 40, 0))}},
			target: "idle RSS", want: "met 10.0 KiB vs 40.0 KiB: 0.25× socketio's",
		},
		"IdleMemoryOverAQuarterIsMissed": {
			groups: map[string][]string{"idle5k": {line("chatcluster", "idle", idle(5000, 11, 0)), line("socketio", "idle", idle(5000, 40, 0))}},
			target: "idle RSS", want: "MISSED",
		},
		"FiftyThousandHeldInEveryRoundIsMet": {
			groups: map[string][]string{"idle50k": {line("chatcluster", "idle", idle(50000, 9, 0)), line("chatcluster", "idle", idle(50000, 9, 0))}},
			target: "chatcluster holds", want: "met in 2 of 2 rounds",
		},
		"FiftyThousandWithErrorsInARoundIsMissed": {
			groups: map[string][]string{"idle50k": {line("chatcluster", "idle", idle(50000, 9, 0)), line("chatcluster", "idle", idle(50000, 9, 3))}},
			target: "chatcluster holds", want: "MISSED in 1 of 2 rounds",
		},
		"FiftyThousandHeldOnlyByThePeerIsMissed": {
			groups: map[string][]string{"idle50k": {line("socketio", "idle", idle(50000, 40, 0)), line("chatcluster", "idle", idle(20000, 9, 1))}},
			target: "chatcluster holds", want: "MISSED in 0 of 1 rounds",
		},
		"FiftyThousandSkippedSaysWhy": {
			groups:  map[string][]string{"idle5k": {line("chatcluster", "idle", idle(5000, 9, 0))}},
			skipped: []string{"idle50k: open-file limit 20000"},
			target:  "chatcluster holds", want: "not run idle50k: open-file limit 20000",
		},
		"PairAt70PercentOfOnePerCPUSecondIsMet": {
			groups: map[string][]string{"max": {line("chatcluster", "max", fanout(0.7, 10))}, "pair": {line("chatcluster", "max", fanout(1, 10))}},
			target: "chatcluster: two instances", want: "met 70% (1.00 vs 0.70 CPU-s per M)",
		},
		"PairUnder70PercentIsMissed": {
			groups: map[string][]string{"max": {line("chatcluster", "max", fanout(0.69, 10))}, "pair": {line("chatcluster", "max", fanout(1, 10))}},
			target: "chatcluster: two instances", want: "MISSED",
		},
		"PairWithoutMaxIsNotRun": {
			groups: map[string][]string{"pair": {line("chatcluster", "max", fanout(1, 10))}},
			target: "chatcluster: two instances", want: "not run",
		},
		"PairAtOneAndAHalfThePeersPairPerCPUSecondIsMet": {
			groups: map[string][]string{"pair": {line("chatcluster", "max", fanout(1, 10)), line("centrifugo", "max", fanout(1.5, 10))}},
			target: "two instances on Redis", want: "met",
		},
		"PairUnderOneAndAHalfThePeersPairIsMissed": {
			groups: map[string][]string{"pair": {line("chatcluster", "max", fanout(1, 10)), line("centrifugo", "max", fanout(1.4, 10))}},
			target: "two instances on Redis", want: "MISSED",
		},
		"ThePeersPairIsShownWithoutTarget": {
			groups: map[string][]string{
				"max":  {line("chatcluster", "max", fanout(1, 10)), line("socketio", "max", fanout(5, 10))},
				"pair": {line("chatcluster", "max", fanout(1, 10)), line("socketio", "max", fanout(10, 10))},
			},
			target: "socketio: two instances", want: "no target 50% (10.00 vs 5.00 CPU-s per M)",
		},
	} {
		t.Run(name, func(t *testing.T) {
			rp := &report{ours: "chatcluster", skipped: tc.skipped}
			for _, n := range []string{"max", "paced", "idle5k", "idle50k", "pair"} {
				if lines, ok := tc.groups[n]; ok {
					rp.groups = append(rp.groups, mustGroup(t, n, lines...))
				}
			}
			v := verdictOf(t, rp, tc.target)
			want, measured, _ := strings.Cut(tc.want, " ")
			if strings.HasPrefix(tc.want, "not run") {
				want, measured = "not run", strings.TrimPrefix(strings.TrimPrefix(tc.want, "not run"), " ")
			}
			if strings.HasPrefix(tc.want, "no target") {
				want, measured = "no target", strings.TrimPrefix(tc.want, "no target ")
			}
			if v.result != want || (measured != "" && v.measured != measured) {
				t.Errorf("verdict %q, measured %q; want %q, %q", v.result, v.measured, want, measured)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	clean := []string{line("chatcluster", "max", fanout(1, 10)), line("socketio", "max", fanout(3, 30))}
	for name, tc := range map[string]struct {
		lines    []string
		rounds   int
		wantCode int
		want     []string
	}{
		"CleanRunsExitZeroWithRatiosAndVerdicts": {
			lines: clean, rounds: 1, wantCode: 0,
			want: []string{
				"## chatcluster against socketio",
				"Machine: 2 CPUs (Test CPU); 2026-12-06 10:00 UTC; load average now 1.00 0.50 0.25.",
				"| max | chatcluster | 1 | 1,000,000 | 1.00 | – | 10.0 | – | 1,000 | 1.75 | 0 |",
				"| max | **chatcluster vs socketio** |  | 3.00× | 3.00× | – | 3.00× | – | – |  |  |",
				"| fan-out per server CPU-second ≥ 2× socketio's | max | 3.00× socketio's | met |",
			},
		},
		"ARunOfOursWithErrorsIsListedAndExitsOne": {
			lines:  append(clean, line("chatcluster", "max", func(r *run) { fanout(1, 10)(r); r.Errors = 4 })),
			rounds: 0, wantCode: 1,
			want: []string{"FAIL (the figures of runs with errors are in the medians above; chatload's log says what went wrong):", "- max, chatcluster, round 2: 4 errors"},
		},
		"APeersRunWithErrorsIsListedAsItsResultAndExitsZero": {
			lines:  append(clean, line("socketio", "max", func(r *run) { fanout(3, 30)(r); r.Errors = 4 })),
			rounds: 0, wantCode: 0,
			want: []string{"- max, socketio, round 2: 4 errors"},
		},
		"AMissingRoundIsListedAndExitsOne": {
			lines: clean, rounds: 2, wantCode: 1,
			want: []string{"- max, chatcluster: 1 of the rounds wrote no figures", "- max, socketio: 1 of the rounds wrote no figures"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			rp := &report{ours: "chatcluster", rounds: tc.rounds, groups: []*group{mustGroup(t, "max", tc.lines...)},
				machine: machine{cpus: 2, model: "Test CPU", date: "2026-12-06 10:00 UTC", load: "1.00 0.50 0.25"}}
			for i := range rp.groups[0].runs["chatcluster"] {
				rp.groups[0].runs["chatcluster"][i].ConnectsPerS = 1000
			}
			var sb strings.Builder
			if code := rp.write(&sb); code != tc.wantCode {
				t.Errorf("exit code %d, want %d", code, tc.wantCode)
			}
			for _, w := range tc.want {
				if !strings.Contains(sb.String(), w+"\n") {
					t.Errorf("output lacks line %q:\n%s", w, sb.String())
				}
			}
		})
	}
}

func TestCPUModel(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"FirstModelNameIsTaken": {"processor\t: 0\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: Other\n", "AMD EPYC 7B13"},
		"NoModelNameIsUnknown":  {"processor\t: 0\nCPU part\t: 0xd0c\n", "model unknown"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := cpuModel(tc.in); got != tc.want {
				t.Errorf("cpuModel = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{5: "5", 5000: "5,000", 50000: "50,000", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
