package sqlite

import (
	"context"
	"fmt"
	"strconv"
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
