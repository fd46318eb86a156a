package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"
)

// result is one line of -json: one scenario's figures, the same fields for
// every scenario and system so that a table can set systems side by side.
// Figures that do not apply to the scenario are 0.
type result struct {
	System         string  `json:"system"`
	Scenario       string  `json:"scenario"`
	Subs           int     `json:"subs"`
	Pubs           int     `json:"pubs"`
	Conns          int     `json:"conns"`
	WindowS        float64 `json:"window_s"` // the measured window; idle: the time spent dialling
	Sends          uint64  `json:"sends"`
	Delivered      uint64  `json:"delivered"`
	SendsPerS      float64 `json:"sends_per_s"`
	DeliveredPerS  float64 `json:"delivered_per_s"`
	LatP50Ms       float64 `json:"lat_p50_ms"`
	LatP99Ms       float64 `json:"lat_p99_ms"`
	AckP50Ms       float64 `json:"ack_p50_ms"`
	AckP99Ms       float64 `json:"ack_p99_ms"`
	SrvCPUS        float64 `json:"srv_cpu_s"` // CPU seconds of the -pids processes in the window
	GenCPUS        float64 `json:"gen_cpu_s"`
	SrvCPUSPerMDel float64 `json:"srv_cpu_s_per_m_delivered"`
	RSSKiBPerConn  float64 `json:"rss_kib_per_conn"` // idle: the larger of per conn and marginal
	ConnectsPerS   float64 `json:"connects_per_s"`   // idle: connections opened per second of dialling
	Errors         uint64  `json:"errors"`           // gaps, dupes, ooo, lost, closed, refused
	LoadAvg        float64 `json:"load_avg"`         // 1-minute, at the scenario's end
}

// label is the system's name in the output: -label, or the protocol's.
func (b *bench) label() string {
	if b.cfg.label != "" {
		return b.cfg.label
	}
	return b.targets[0].proto.system()
}

// cpuSeconds are the CPU seconds the servers and the generator used in the
// window.
func (r *fanoutResult) cpuSeconds() (srv, gen float64) {
	return r.srvCPU * r.window.Seconds(), r.genCPU * r.window.Seconds()
}

// cpuPerMillion is the fan-out table's srv cpu/M: the servers' CPU seconds
// per million messages delivered.
func (b *bench) cpuPerMillion(r *fanoutResult) string {
	srv, _ := r.cpuSeconds()
	if len(b.pids) == 0 || r.delivered == 0 {
		return "-"
	}
	return strconv.FormatFloat(perMillion(srv, r.delivered), 'f', 2, 64) + "s"
}

func (b *bench) fanoutLine(r *fanoutResult) result {
	all := r.allLat()
	srv, gen := r.cpuSeconds()
	return result{
		System: b.label(), Scenario: r.spec.name, Subs: r.spec.subs, Pubs: r.spec.pubs, Conns: r.spec.subs + r.spec.pubs,
		WindowS: round(r.window.Seconds(), 3), Sends: r.sends, Delivered: r.delivered,
		SendsPerS: round(float64(r.sends)/r.window.Seconds(), 1), DeliveredPerS: round(r.deliveredRate(), 1),
		LatP50Ms: msFloat(all.quantile(0.5)), LatP99Ms: msFloat(all.quantile(0.99)),
		AckP50Ms: msFloat(r.ack.quantile(0.5)), AckP99Ms: msFloat(r.ack.quantile(0.99)),
		SrvCPUS: round(srv, 3), GenCPUS: round(gen, 3), SrvCPUSPerMDel: round(perMillion(srv, r.delivered), 4),
		Errors:  r.gaps + r.dupes + r.ooo + r.lost + sumCounts(r.closed) + sumCounts(r.sendErrs),
		LoadAvg: r.loadAvg,
	}
}

func (b *bench) idleLine(r *idleResult) result {
	return result{
		System: b.label(), Scenario: "idle", Conns: r.conns, WindowS: round(r.dialling.Seconds(), 3),
		SrvCPUS: round(r.srvCPU.Seconds(), 3), GenCPUS: round(r.genCPU.Seconds(), 3),
		RSSKiBPerConn: round(max(r.perConnKiB(), r.marginalKiB()), 2), ConnectsPerS: round(r.connectRate(), 1),
		Errors: sumCounts(r.closed), LoadAvg: r.loadAvg,
	}
}

// writeJSON appends a line per result of the run to -json's file, when
// given.
func (b *bench) writeJSON(fanouts []*fanoutResult, idle *idleResult) error {
	if b.cfg.jsonFile == "" {
		return nil
	}
	var lines []byte
	for _, r := range fanouts {
		lines = appendJSONLine(lines, b.fanoutLine(r))
	}
	if idle != nil {
		lines = appendJSONLine(lines, b.idleLine(idle))
	}
	f, err := os.OpenFile(b.cfg.jsonFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644) //nolint:gosec // a file the user named
	if err != nil {
		return fmt.Errorf("-json: %w", err)
	}
	_, err = f.Write(lines)
	if err = cmpOr(err, f.Close()); err != nil {
		return fmt.Errorf("-json: %w", err)
	}
	return nil
}

func appendJSONLine(dst []byte, r result) []byte {
	b, _ := json.Marshal(r) // numbers and strings: it cannot fail
	return append(append(dst, b...), '\n')
}

// perMillion is cpu seconds per million of n, or 0 for none.
func perMillion(cpu float64, n uint64) float64 {
	if n == 0 {
		return 0
	}
	return cpu / float64(n) * 1e6
}

func sumCounts(m map[string]int) uint64 {
	var n uint64
	for _, c := range m {
		n += uint64(c) //nolint:gosec // counts are not negative
	}
	return n
}

func msFloat(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

// round rounds v to the given decimals, and anything but a finite number to 0.
func round(v float64, decimals int) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	p := math.Pow10(decimals)
	return math.Round(v*p) / p
}

// loadAvg1 is loadAvg as a number, or 0 when it is unknown.
func loadAvg1() float64 {
	v, err := strconv.ParseFloat(loadAvg(), 64)
	if err != nil {
		return 0
	}
	return v
}
