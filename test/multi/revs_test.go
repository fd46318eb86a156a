package multi

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/chatcluster/chatcluster/chatserver/chattest"
)

// The changes of one room made concurrently through both instances (sends,
// edits, reactions and deletes of each other's messages) reach every
// connection in rev order without gap or repeat, and a client that comes
// back with join + since_rev gets every change it missed, in its current
// state.
func TestRevisionsInOrderAcrossInstances(t *testing.T) {
	cl := newCluster(t, sharedURL(t))
	a, b := cl.start("a"), cl.start("b")
	const room = "general"
	alice := chattest.Login(t, a.URL, "alice", password)
	bob := chattest.Login(t, b.URL, "bob", password)
	var subs []*chattest.Client
	for i, in := range []*instance{a, b, a, b} {
		subs = append(subs, joined(t, in, []string{alice, bob}[i%2], room))
	}
	// Each writer sends, then edits, reacts to and deletes what it and the
	// other sent, on its own connection, all at once.
	const perWriter = 15
	var wg sync.WaitGroup
	var mu sync.Mutex
	changes := 0 // acknowledged changes that changed something
	for i, in := range []*instance{a, b, a, b} {
		token := []string{alice, bob}[i%2]
		wg.Go(func() {
			c := chattest.Dial(t, in.URL, token)
			for j := range perWriter {
				var sent struct{ Message chattest.Message }
				c.OK(map[string]any{"type": "send", "room": room, "text": fmt.Sprintf("w%d #%d", i, j), "cid": fmt.Sprintf("w%d-%d", i, j)}, &sent)
				seq := sent.Message.Seq
				c.OK(map[string]any{"type": "edit", "room": room, "seq": seq, "text": fmt.Sprintf("w%d #%d, edited", i, j)}, nil)
				// The message before may be one another writer deleted.
				if f := c.Command(map[string]any{"type": "react", "room": room, "seq": max(seq-1, 1), "emoji": fmt.Sprint("e", i), "active": true}); !f.OK && f.Error.Code != "not_found" {
					t.Errorf("react: %s", f.Raw)
				}
				n := 3
				if j%5 == 4 {
					c.OK(map[string]any{"type": "delete", "room": room, "seq": seq}, nil)
					n++
				}
				mu.Lock()
				changes += n
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// Some reactions landed on a message another writer had deleted, or
	// repeated one already set: count what the room holds instead.
	var last struct {
		Rooms []struct {
			ID  string
			Rev int64
		}
	}
	status, body := chattest.Do(t, "GET", a.URL+"/api/rooms", alice, nil)
	if status != 200 || json.Unmarshal(body, &last) != nil {
		t.Fatalf("rooms: %d %s", status, body)
	}
	i := slices.IndexFunc(last.Rooms, func(r struct {
		ID  string
		Rev int64
	}) bool {
		return r.ID == room
	})
	rev := last.Rooms[i].Rev
	if rev < int64(4*perWriter*2) || rev > int64(changes) {
		t.Fatalf("the room is at rev %d after %d changes", rev, changes)
	}
	for _, c := range subs {
		c.Revs(room, rev)
	}

	t.Run("a client back with since_rev catches up on every message's current state", func(t *testing.T) {
		current := chattest.Dial(t, a.URL, alice).CatchUp(room)
		for seq, m := range current {
			if m.Deleted != (m.Text == "") || (!m.Deleted && m.EditedTS.IsZero()) {
				t.Fatalf("message %d caught up as %+v", seq, m)
			}
		}
		if len(current) != 4*perWriter {
			t.Fatalf("caught up on %d messages, want %d", len(current), 4*perWriter)
		}
	})
}
