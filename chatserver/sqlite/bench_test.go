package sqlite

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

// benchParallelism is goroutines per GOMAXPROCS: the server calls the store
// from one goroutine per connection, far more than there are cores, and group
// commit only batches writes that are waiting together.
const benchParallelism = 128

// benchParallel runs op from many goroutines, each call with a fresh number,
// and reports the rate.
func benchParallel(b *testing.B, unit string, op func(db *DB, n int64) error) {
	db := open(b)
	var next atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(db, next.Add(1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit+"/s")
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(db.writer.writes)/float64(db.writer.batches), "writes/batch")
}

func benchMessage(n int64) chatserver.Message {
	id := strconv.FormatInt(n, 10)
	return chatserver.Message{
		ID: "m" + id, Room: fmt.Sprintf("room-%d", n%16), From: fmt.Sprintf("user%d", n%1000),
		Text: "a chat message of ordinary length, like most of them", TS: time.Now(), CID: "c" + id,
	}
}

func benchEvent(m chatserver.Message) chatserver.ActivityEvent {
	return chatserver.ActivityEvent{ID: "ev-" + m.ID, Type: chatserver.ActivityMessage, TS: m.TS, User: m.From, Room: m.Room, MessageID: m.ID}
}

// BenchmarkAppend_Parallel stores new messages in 16 rooms.
func BenchmarkAppend_Parallel(b *testing.B) {
	ctx := context.Background()
	benchParallel(b, "appends", func(db *DB, n int64) error {
		_, _, err := db.Append(ctx, benchMessage(n))
		return err
	})
}

// BenchmarkRecord_Parallel stores message.sent activity events.
func BenchmarkRecord_Parallel(b *testing.B) {
	ctx := context.Background()
	benchParallel(b, "records", func(db *DB, n int64) error {
		return db.Record(ctx, benchEvent(benchMessage(n)))
	})
}

// BenchmarkSend_Parallel is what the server does per send: Append, then
// Record its message.sent event.
func BenchmarkSend_Parallel(b *testing.B) {
	ctx := context.Background()
	benchParallel(b, "sends", func(db *DB, n int64) error {
		m, _, err := db.Append(ctx, benchMessage(n))
		if err != nil {
			return err
		}
		return db.Record(ctx, benchEvent(m))
	})
}

// BenchmarkAppend_Serial appends from one goroutine: each append waits for
// its own commit and fsync, so ns/op is the latency of an idle store.
func BenchmarkAppend_Serial(b *testing.B) {
	ctx := context.Background()
	db := open(b)
	b.ReportAllocs()
	var n int64
	for b.Loop() {
		n++
		if _, _, err := db.Append(ctx, benchMessage(n)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRooms_Unread lists the rooms of a user in 1,000 rooms (900
// public, 50 DMs, 50 group rooms) of 100 messages each, from five users in
// turn, every seventh mentioning the user and one of each room deleted; the
// user has read half of every room, so 39,000 messages are unread.
func BenchmarkRooms_Unread(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, b.TempDir(), WithoutFsync())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const perRoom = 100
	rooms := make([]string, 0, 1000)
	for i := range 1000 {
		switch {
		case i < 900:
			rooms = append(rooms, fmt.Sprintf("room-%03d", i))
		case i < 950:
			rooms = append(rooms, fmt.Sprintf("dm:alice_u%02d", i-900))
		default:
			rooms = append(rooms, fmt.Sprintf("gdm:alice_bob_u%02d", i-950))
		}
	}
	users := []string{"alice", "bob", "carol", "dave", "erin"}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for r := next.Add(1) - 1; r < int64(len(rooms)); r = next.Add(1) - 1 {
				room := rooms[r]
				var wait func() (chatserver.Message, bool, error)
				for i := range perRoom {
					m := chatserver.Message{ID: fmt.Sprintf("%s/%d", room, i), Room: room, From: users[i%len(users)],
						Text: "a chat message of ordinary length, like most of them", TS: time.Now(), CID: strconv.Itoa(i)}
					if i%7 == 3 {
						m.Text, m.Mentions = "@alice "+m.Text, []string{"alice"}
					}
					wait = db.AppendRecord(ctx, m, nil)
				}
				_, _, err := wait()
				if err == nil {
					_, _, err = db.Update(ctx, room, perRoom-10, func(m chatserver.Message) (chatserver.Message, bool, error) {
						return chatserver.Message{Deleted: true}, true, nil
					})
				}
				if err == nil {
					_, _, err = db.MarkRead(ctx, "alice", room, perRoom/2)
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportAllocs()
	for b.Loop() {
		got, err := db.Rooms(ctx, "alice")
		if err != nil {
			b.Fatal(err)
		}
		// Of the 50 messages after her position in each room 10 are
		// alice's and 1 is deleted; 6 of the other 39 mention her.
		if r := got[0]; len(got) != len(rooms) || r.Unread != 39 || r.Mentions != 6 {
			b.Fatalf("%d rooms, the first %+v; want %d, 39 unread, 6 mentions", len(got), r, len(rooms))
		}
	}
}
