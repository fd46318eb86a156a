package mongo

import (
	"fmt"
	"testing"
)

func TestHeldRevs(t *testing.T) {
	full := make([]int64, revHistory)
	for i := range full {
		full[i] = int64(i + 1)
	}
	cases := map[string]struct {
		revs      []int64
		rev       int64
		wantLen   int
		wantFirst int64
	}{
		"a new message's first change keeps both": {[]int64{7}, 9, 2, 7},
		"a history below the cap keeps every rev": {full[:revHistory-1], 5000, revHistory, 1},
		"a full history drops its oldest rev":     {full, 5000, revHistory, 2},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			before := fmt.Sprint(full)
			got := heldRevs(c.revs, c.rev)
			if len(got) != c.wantLen || got[0] != c.wantFirst || got[len(got)-1] != c.rev {
				t.Fatalf("got %d revs %d…%d, want %d revs %d…%d", len(got), got[0], got[len(got)-1], c.wantLen, c.wantFirst, c.rev)
			}
			if fmt.Sprint(full) != before {
				t.Fatal("the history it was given changed")
			}
		})
	}
}
