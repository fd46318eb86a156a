package mongo_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/chattest/standin"
	"github.com/chatcluster/chatcluster/chatserver/mongo"
)

// openInstances opens n stores on one fresh database, as n instances.
func openInstances(t *testing.T, n int) []*mongo.DB {
	t.Helper()
	uri, database := standin.MongoDB(t)
	out := make([]*mongo.DB, n)
	for i := range out {
		out[i] = openMongo(t, uri, database)
	}
	return out
}

// Three stores on one database stand for three instances, each with many
// senders into one room at once. Every send is stored once, seqs and revs
// run 1, 2, 3… together, and the sends of each instance share their
// writes: the stores tried fewer inserts than they stored messages, races
// between the instances included.
func TestMongo_FerretDB_HotRoomFromSeveralInstancesIsGapFreeInFewerWrites(t *testing.T) {
	instances := openInstances(t, 3)
	const senders, perSender = 8, 8
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, len(instances)*senders*perSender)
	for i, db := range instances {
		for s := range senders {
			wg.Go(func() {
				for n := range perSender {
					if _, created, err := db.Append(ctx, msg("hot", fmt.Sprintf("user%d-%d", i, s), fmt.Sprint("c", n))); err != nil || !created {
						errs <- fmt.Errorf("created=%v: %w", created, err)
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := len(instances) * senders * perSender
	p, err := instances[0].After(ctx, "hot", 0, 2*total)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Messages) != total || p.HasMore || p.Rev != int64(total) {
		t.Fatalf("%d messages, more=%v, rev %d; want %d, false, %d", len(p.Messages), p.HasMore, p.Rev, total, total)
	}
	for i, m := range p.Messages {
		if m.Seq != int64(i+1) || m.Rev != m.Seq {
			t.Fatalf("message %d has seq %d, rev %d: a gap, a duplicate or revs apart from seqs", i, m.Seq, m.Rev)
		}
	}
	var writes int64
	for _, db := range instances {
		writes += db.BatchWrites()
	}
	t.Logf("%d messages in %d inserts", total, writes)
	if writes >= int64(total) {
		t.Fatalf("%d inserts for %d messages: the sends of an instance were not stored together", writes, total)
	}
}

// Sends repeated at once, on several instances and within one batch, store
// one message: every answer is that message, and only one says created.
func TestMongo_FerretDB_ConcurrentRepeatsOfOneSendStoreOne(t *testing.T) {
	instances := openInstances(t, 2)
	ctx := context.Background()
	appendAll(t, instances[0], msg("general", "bob", "before"))
	const perInstance = 6
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		answers []chatserver.Message
		created int
	)
	for _, db := range instances {
		for range perInstance {
			wg.Go(func() {
				m, c, err := db.Append(ctx, msg("general", "alice", "once"))
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
				answers = append(answers, m)
				if c {
					created++
				}
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if created != 1 {
		t.Fatalf("%d answers say created, want 1", created)
	}
	for _, m := range answers {
		if !reflect.DeepEqual(m, answers[0]) || m.Seq != 2 {
			t.Fatalf("answers %+v and %+v, want the one message with seq 2", answers[0], m)
		}
	}
	p, err := instances[1].After(ctx, "general", 0, 10)
	if err != nil || len(p.Messages) != 2 || p.Rev != 2 {
		t.Fatalf("%s %v, want 2 messages up to rev 2", revs(p), err)
	}
}

// Instances reacting to one message at the same moment each add their
// reaction: none overwrites another's, and each takes its own rev.
func TestMongo_FerretDB_ConcurrentChangesOfOneMessageAllCount(t *testing.T) {
	instances := openInstances(t, 2)
	ctx := context.Background()
	appendAll(t, instances[0], msg("general", "alice", "1"))
	const perInstance = 5
	var wg sync.WaitGroup
	for i, db := range instances {
		for n := range perInstance {
			wg.Go(func() {
				if _, changed, err := db.Update(ctx, "general", 1, react("👍", fmt.Sprintf("user%d-%d", i, n))); err != nil || !changed {
					t.Errorf("changed=%v %v", changed, err)
				}
			})
		}
	}
	wg.Wait()
	m, err := instances[0].Message(ctx, "general", 1)
	if err != nil {
		t.Fatal(err)
	}
	want := 1 + len(instances)*perInstance
	if len(m.Reactions) != 1 || len(m.Reactions[0].Users) != want-1 || m.Rev != int64(want) {
		t.Fatalf("message at rev %d with reactions %v; want %d users at rev %d", m.Rev, m.Reactions, want-1, want)
	}
}

// A writer that dies between taking a rev (its marker) and storing its
// change holds up the room's changes only until the store's timeout has
// passed: then the next writer gives that rev to the message as it was,
// and goes on with the rev after it. Before that, the rev stays the dead
// writer's, which may only be slow.
func TestMongo_FerretDB_StrandedRevMarker(t *testing.T) {
	cases := map[string]struct {
		grace time.Duration
		next  func(ctx context.Context, db *mongo.DB) (chatserver.Message, error)
		// wantNext is the rev the next writer stores; 0: it gives up.
		wantNext int64
	}{
		"a send after the timeout fills the rev and takes the next": {
			grace: 100 * time.Millisecond, wantNext: 4,
			next: func(ctx context.Context, db *mongo.DB) (chatserver.Message, error) {
				m, _, err := db.Append(ctx, msg("general", "carol", "3"))
				return m, err
			},
		},
		"an edit after the timeout fills the rev and takes the next": {
			grace: 100 * time.Millisecond, wantNext: 4,
			next: func(ctx context.Context, db *mongo.DB) (chatserver.Message, error) {
				m, _, err := db.Update(ctx, "general", 2, edit("bob, edited"))
				return m, err
			},
		},
		"a send within the timeout leaves the rev to its writer": {
			grace: time.Hour,
			next: func(ctx context.Context, db *mongo.DB) (chatserver.Message, error) {
				ctx, cancel := context.WithTimeout(ctx, time.Second)
				defer cancel()
				m, _, err := db.Append(ctx, msg("general", "carol", "3"))
				return m, err
			},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			instances := openInstances(t, 2)
			dead, next := instances[0], instances[1]
			next.SetGrace(c.grace)
			ctx := context.Background()
			sent := appendAll(t, dead, msg("general", "alice", "1"), msg("general", "bob", "2"))
			rev, err := dead.MarkRevAndStop(ctx, "general", 1)
			if err != nil || rev != 3 {
				t.Fatalf("marked rev %d: %v", rev, err)
			}
			got, err := c.next(ctx, next)
			if c.wantNext == 0 {
				chattest.WantCode(t, err, chatserver.EUnavailable)
				if m := must(next.Message(ctx, "general", 1)); !reflect.DeepEqual(m, sent[0]) {
					t.Fatalf("message 1 is %+v, want it untouched: %+v", m, sent[0])
				}
				return
			}
			if err != nil || got.Rev != c.wantNext {
				t.Fatalf("next change at rev %d: %v; want rev %d", got.Rev, err, c.wantNext)
			}
			filled := sent[0]
			filled.Rev = rev
			if m := must(next.Message(ctx, "general", 1)); !reflect.DeepEqual(m, filled) {
				t.Fatalf("message 1 is %+v, want its state as sent at rev %d: %+v", m, rev, filled)
			}
			p := must(next.Changes(ctx, "general", 0, 10))
			if revs(p) != fmt.Sprintf("[%s] more=false rev=4", changesAfterFill(got)) {
				t.Fatalf("changes %s", revs(p))
			}
			// The room goes on: the rev after is free.
			if m, _, err := dead.Update(ctx, "general", 1, edit("alice, edited")); err != nil || m.Rev != 5 {
				t.Fatalf("edit after: rev %d, %v", m.Rev, err)
			}
		})
	}
}

// changesAfterFill is what Changes from 0 lists once the stranded rev 3 went
// to message 1 and next stored rev 4.
func changesAfterFill(next chatserver.Message) string {
	if next.Seq == 3 {
		return "2@2 1@3 3@4"
	}
	return "1@3 2@4"
}
