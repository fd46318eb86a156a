package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistBuckets(t *testing.T) {
	for us := uint64(0); us < 1<<20; us++ {
		i := histIndex(us)
		if us > histUpper(i) || (i > 0 && us <= histUpper(i-1)) {
			t.Fatalf("%d µs in bucket %d, which holds (%d, %d]", us, i, histUpper(i-1), histUpper(i))
		}
	}
	if i := histIndex(1 << 62); i != len(hist{}.counts)-1 {
		t.Fatalf("huge value in bucket %d, want the last", i)
	}
}

func TestHistQuantiles(t *testing.T) {
	tests := map[string]func(r *rand.Rand) int64{
		"uniform up to 50 ms":     func(r *rand.Rand) int64 { return r.Int64N(int64(50 * time.Millisecond)) },
		"exponential around 2 ms": func(r *rand.Rand) int64 { return int64(r.ExpFloat64() * float64(2*time.Millisecond)) },
		"sub-microsecond":         func(r *rand.Rand) int64 { return r.Int64N(1000) },
		"heavy tail": func(r *rand.Rand) int64 {
			return int64(time.Duration(r.Float64()*r.Float64()*r.Float64()) * time.Second)
		},
	}
	for name, gen := range tests {
		t.Run(name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var h hist
			vals := make([]int64, 20000)
			for i := range vals {
				vals[i] = gen(r)
				h.record(vals[i])
			}
			slices.Sort(vals)
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
				exact := time.Duration(vals[max(int(q*float64(len(vals))+0.5), 1)-1])
				got := h.quantile(q)
				// The bucket's upper bound: at most 1/32 above, plus a microsecond of rounding.
				if got < exact || float64(got) > float64(exact)*(1+1.0/32)+float64(time.Microsecond) {
					t.Errorf("q%v = %v, exact %v", q, got, exact)
				}
			}
			if got := h.quantile(1); got != time.Duration(vals[len(vals)-1]) {
				t.Errorf("max = %v, want %v", got, time.Duration(vals[len(vals)-1]))
			}
		})
	}
}

func TestHistMerge(t *testing.T) {
	var a, b, all hist
	for i := range int64(1000) {
		v := i * int64(time.Microsecond) * 37
		all.record(v)
		if i%3 == 0 {
			a.record(v)
		} else {
			b.record(v)
		}
	}
	a.merge(&b)
	if a != all {
		t.Fatal("merging two halves differs from recording all")
	}
	var empty hist
	if empty.quantile(0.99) != 0 {
		t.Fatal("empty histogram has a non-zero quantile")
	}
}
