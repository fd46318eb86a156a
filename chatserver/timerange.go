package chatserver

import (
	"math"
	"time"
)

// EarliestTime and LatestTime bound the times an activity query may name:
// the stores count time in nanoseconds since 1970 in an int64, so a range
// between them never overflows and its span fits a time.Duration.
var (
	EarliestTime = time.Unix(0, 0).UTC()
	LatestTime   = time.Unix(0, math.MaxInt64).UTC()
)

// InTimeRange reports whether t lies within [EarliestTime, LatestTime].
func InTimeRange(t time.Time) bool {
	return !t.Before(EarliestTime) && !t.After(LatestTime)
}

// Buckets returns how many buckets of interval cover [from, to), without
// overflowing; from and to must be in the time range and interval positive.
func Buckets(from, to time.Time, interval time.Duration) int64 {
	span := to.Sub(from)
	n := int64(span / interval)
	if span%interval != 0 {
		n++
	}
	return n
}
