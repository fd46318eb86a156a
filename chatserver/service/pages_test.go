package service_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/service"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

// pageBytes is the JSON the messages of a page take, with their commas.
func pageBytes(p wire.Page) int {
	n := 0
	for _, m := range p.Messages {
		n += wire.MessageSize(m) + 1
	}
	return n
}

// seqsOf lists the seqs of a page's messages.
func seqsOf(p wire.Page) []int64 {
	var out []int64
	for _, m := range p.Messages {
		out = append(out, m.Seq)
	}
	return out
}

// A page of long messages stops at the byte budget and says there is more;
// following has_more as the contract says (join with since from the last
// message, history with before from the first) still gives every message
// once, in order.
func TestPagesStopAtTheirByteBudget(t *testing.T) {
	const budget = 4 << 10
	e := newEnv(t, func(cfg *service.Config, _ *service.Deps) { cfg.PageBytes = budget })
	e.register(t, "alice")
	const n = 30
	long := strings.Repeat("x", 1000)
	for i := range n {
		e.send(t, "alice", "long", long, fmt.Sprint(i))
	}
	alice, _ := e.connect(t, "alice")
	all := fmt.Sprint(seqsFrom(1, n))

	t.Run("join with since pages forward within the budget", func(t *testing.T) {
		var got []int64
		since := int64(0)
		for pages := 0; ; pages++ {
			if pages > n {
				t.Fatal("paging never ended")
			}
			p := join(t, alice, "long", seq(since))
			if len(p.Messages) == 0 || pageBytes(p) > budget {
				t.Fatalf("a page of %d messages, %d bytes", len(p.Messages), pageBytes(p))
			}
			got = append(got, seqsOf(p)...)
			since = p.Messages[len(p.Messages)-1].Seq
			if !p.HasMore {
				break
			}
		}
		if fmt.Sprint(got) != all {
			t.Fatalf("seqs %v", got)
		}
	})
	t.Run("join without since gives the newest that fit and says older ones exist", func(t *testing.T) {
		p := join(t, alice, "long", nil)
		if !p.HasMore || len(p.Messages) == 0 || pageBytes(p) > budget || p.Messages[len(p.Messages)-1].Seq != n {
			t.Fatalf("page %v, has_more %v, %d bytes", seqsOf(p), p.HasMore, pageBytes(p))
		}
	})
	t.Run("history pages backward within the budget", func(t *testing.T) {
		var got []int64
		var before *int64
		for pages := 0; ; pages++ {
			if pages > n {
				t.Fatal("paging never ended")
			}
			p, err := e.svc.History(context.Background(), "alice", "long", before, chatserver.MaxHistoryLimit)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Messages) == 0 || pageBytes(p) > budget {
				t.Fatalf("a page of %d messages, %d bytes", len(p.Messages), pageBytes(p))
			}
			got = append(seqsOf(p), got...)
			before = seq(p.Messages[0].Seq)
			if !p.HasMore {
				break
			}
		}
		if fmt.Sprint(got) != all {
			t.Fatalf("seqs %v", got)
		}
	})
}

func seqsFrom(first, last int64) []int64 {
	var out []int64
	for s := first; s <= last; s++ {
		out = append(out, s)
	}
	return out
}

func TestAMessageOverThePageBudgetComesAloneOnItsPage(t *testing.T) {
	e := newEnv(t, func(cfg *service.Config, _ *service.Deps) { cfg.PageBytes = 1000 })
	e.register(t, "alice")
	for i := range 3 {
		e.send(t, "alice", "huge", strings.Repeat("y", 3000), fmt.Sprint(i))
	}
	alice, _ := e.connect(t, "alice")
	for since := int64(0); since < 3; since++ {
		p := join(t, alice, "huge", seq(since))
		if fmt.Sprint(seqsOf(p)) != fmt.Sprint([]int64{since + 1}) || p.HasMore != (since < 2) {
			t.Fatalf("after %d: page %v, has_more %v", since, seqsOf(p), p.HasMore)
		}
	}
}

// Short messages still come 500 to a join with since, although the store is
// read in chunks sized by the budget.
func TestAJoinPageOfShortMessagesHoldsFiveHundred(t *testing.T) {
	e := newEnv(t, nil)
	e.register(t, "alice")
	for i := range chatserver.MaxSincePage + 20 {
		e.send(t, "alice", "short", "m", fmt.Sprint(i))
	}
	alice, _ := e.connect(t, "alice")
	p := join(t, alice, "short", seq(0))
	if len(p.Messages) != chatserver.MaxSincePage || !p.HasMore || fmt.Sprint(seqsOf(p)) != fmt.Sprint(seqsFrom(1, chatserver.MaxSincePage)) {
		t.Fatalf("%d messages, has_more %v", len(p.Messages), p.HasMore)
	}
	p = join(t, alice, "short", seq(chatserver.MaxSincePage))
	if len(p.Messages) != 20 || p.HasMore {
		t.Fatalf("the last page: %d messages, has_more %v", len(p.Messages), p.HasMore)
	}
}
