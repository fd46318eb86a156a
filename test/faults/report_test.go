//go:build faults

package faults

import (
	"fmt"
	"strings"
	"time"
)

// row is one fault's line of the report: its rounds added up.
type row struct {
	fault                                   string
	outage                                  time.Duration
	rounds, failedRounds                    int
	failed                                  bool // the fault\'s test failed, in a round or before
	ops, acked, edits, unavailable, noReply int
	indeterminate                           int
	lost, duplicated, disorder, gaps        int
	indexMissing, indexDuplicated           int
	recovery                                time.Duration // the longest
	slowestRefusal                          time.Duration
}

func (rw *row) add(v verdict) {
	rw.rounds++
	if v.failed() {
		rw.failedRounds++
	}
	rw.ops += v.ops
	rw.acked += v.acked
	rw.edits += v.edits
	rw.unavailable += v.unavailable
	rw.noReply += v.noReply
	rw.indeterminate += v.indeterminate
	rw.lost += v.lost
	rw.duplicated += v.duplicated
	rw.disorder += v.disorder
	rw.gaps += v.gaps
	rw.indexMissing += v.indexMissing
	rw.indexDuplicated += v.indexDuplicated
	rw.recovery = max(rw.recovery, v.recovery)
	rw.slowestRefusal = max(rw.slowestRefusal, v.slowestRefusal)
}

// reportTable renders the rows as a Markdown table.
func reportTable(rows []row, form string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Fault campaign, %s form, %s.\n\n", form, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	b.WriteString("| fault | outage | rounds | ops ok | sends acked | edits acked | refused (unavailable) | slowest refusal | no reply | stored, not acked | lost | duplicated | out of order | seq / rev gaps | index missing / twice | time to recover (max) | result |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, rw := range rows {
		outage := "-"
		if rw.outage > 0 {
			outage = rw.outage.String()
		}
		result := "pass"
		switch {
		case rw.failedRounds > 0:
			result = fmt.Sprintf("**FAIL** (%d of %d rounds)", rw.failedRounds, rw.rounds)
		case rw.failed && rw.rounds == 0:
			result = "**FAIL** (the rig did not start)"
		case rw.failed:
			result = "**FAIL**"
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %d | %s | %d | %d | %d | %d | %d | %d | %d / %d | %s | %s |\n",
			rw.fault, outage, rw.rounds, rw.ops, rw.acked, rw.edits, rw.unavailable, rw.slowestRefusal.Round(time.Millisecond),
			rw.noReply, rw.indeterminate, rw.lost, rw.duplicated, rw.disorder, rw.gaps,
			rw.indexMissing, rw.indexDuplicated, rw.recovery.Round(100*time.Millisecond), result)
	}
	return b.String()
}
