package main

import (
	"math"
	"math/bits"
	"time"
)

// hist is a latency histogram with microsecond resolution below 32 µs and a
// relative error under 1/32 (about 3%) above: each power of two is split into
// 32 buckets. Recording is a few instructions and allocation-free, so every
// receiving goroutine keeps its own and they are merged at the end.
type hist struct {
	counts [histSub * (histGroups + 1)]uint64
	n      uint64
	max    int64 // ns
}

const (
	histSub    = 32
	histGroups = 40 // powers of two above 32 µs: up to about 2^45 µs
)

func histIndex(us uint64) int {
	if us < histSub {
		return int(us)
	}
	shift := bits.Len64(us) - 6
	top := us >> shift & (2*histSub - 1) // in [32, 64): the mask, of 6 bits, changes nothing
	i := histSub + shift*histSub + int(top) - histSub
	return min(i, len(hist{}.counts)-1)
}

// histUpper is the largest value, in µs, that falls in bucket i.
func histUpper(i int) uint64 {
	switch {
	case i < 0:
		return 0 // no bucket
	case i < histSub:
		return uint64(i)
	}
	shift := (i - histSub) / histSub
	m := uint64(histSub + (i-histSub)%histSub)
	return (m+1)<<shift - 1
}

// record adds one latency in nanoseconds; negative ones count as zero.
func (h *hist) record(ns int64) {
	ns = max(ns, 0)
	h.counts[histIndex(uint64(ns)/1000)]++
	h.n++
	h.max = max(h.max, ns)
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the latency below or at which a fraction q of the
// recorded ones lie: the upper bound of its bucket, never above the maximum.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			upper := histUpper(i)
			if upper >= math.MaxInt64/uint64(time.Microsecond) {
				break // past any Duration, so past the maximum
			}
			d := time.Duration(upper+1)*time.Microsecond - 1
			return min(d, time.Duration(h.max))
		}
	}
	return time.Duration(h.max)
}
