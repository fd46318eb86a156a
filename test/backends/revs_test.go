package backends

import (
	"fmt"
	"sync"
	"testing"

	"github.com/chatcluster/chatcluster/chatserver/chattest"
)

// Sends, edits, reactions and deletes made at once through two processes on
// Redis and the MongoDB stand-in reach every connection in rev order, each
// rev once, and a client that comes back with join + since_rev catches up
// on every change, each message in its current state. Each writer changes
// messages of its own; the store's tests change one message from several
// instances at once.
func TestTwoProcesses_Redis_FerretDB_kfake_RevisionsInOrder(t *testing.T) {
	a, b := startTwo(t)
	const room = "revs"
	const perWriter = 10
	procs := []*chatProc{a, b}
	var subs []*chattest.Client
	for i := range 4 {
		p := procs[i%2]
		c := chattest.Dial(t, p.base, chattest.Login(t, p.base, fmt.Sprint("sub", i), mpPassword))
		c.OK(map[string]any{"type": "join", "room": room}, nil)
		subs = append(subs, c)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	changes := int64(0)
	for i := range 4 {
		p := procs[i%2]
		name := fmt.Sprint("writer", i)
		c := chattest.Dial(t, p.base, chattest.Login(t, p.base, name, mpPassword))
		wg.Go(func() {
			for n := range perWriter {
				var sent struct{ Message chattest.Message }
				c.OK(map[string]any{"type": "send", "room": room, "text": fmt.Sprintf("%s #%d", name, n), "cid": fmt.Sprint(name, "-", n)}, &sent)
				seq := sent.Message.Seq
				c.OK(map[string]any{"type": "edit", "room": room, "seq": seq, "text": fmt.Sprintf("%s #%d, edited", name, n)}, nil)
				c.OK(map[string]any{"type": "react", "room": room, "seq": seq, "emoji": "👍", "active": true}, nil)
				k := int64(3)
				if n%3 == 2 {
					c.OK(map[string]any{"type": "delete", "room": room, "seq": seq}, nil)
					k++
				}
				mu.Lock()
				changes += k
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, c := range subs {
		c.Revs(room, changes)
	}
	late := chattest.Dial(t, b.base, chattest.Login(t, b.base, "late", mpPassword))
	current := late.CatchUp(room)
	if len(current) != 4*perWriter {
		t.Fatalf("caught up on %d messages, want %d", len(current), 4*perWriter)
	}
	for seq, m := range current {
		if m.Deleted {
			if m.Text != "" || len(m.Reactions) != 0 {
				t.Fatalf("message %d: tombstone %+v", seq, m)
			}
		} else if m.EditedTS.IsZero() || len(m.Reactions) != 1 {
			t.Fatalf("message %d caught up as %+v", seq, m)
		}
	}
}
