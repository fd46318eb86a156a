package httpapi

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/gorilla/websocket"
)

// queueOps applies ops to q: "add <text>", "ping", "close <code> <reason>"
// or "drop <code>" (a protocol error's close, which drops the queue).
func queueOps(t *testing.T, q *sendQueue, ops []string) {
	t.Helper()
	for _, op := range ops {
		verb, arg, _ := strings.Cut(op, " ")
		switch verb {
		case "add":
			q.add([]byte(arg))
		case "ping":
			q.addControl(pingFrame)
		case "close", "drop":
			codeText, reason, _ := strings.Cut(arg, " ")
			code, err := strconv.Atoi(codeText)
			if err != nil {
				t.Fatalf("op %q: %v", op, err)
			}
			q.close(code, reason, verb == "drop")
		default:
			t.Fatalf("unknown op %q", op)
		}
	}
}

func TestQueueTakesWhatIsWaitingInWireOrder(t *testing.T) {
	cases := []struct {
		name  string
		limit int
		ops   []string
		want  []string
		last  bool
	}{
		{"objects coalesce into one frame, in order", 100,
			[]string{"add a", "add b", "add c"}, []string{"text a\nb\nc"}, false},
		{"pings go before the objects", 100,
			[]string{"add a", "ping"}, []string{"ping", "text a"}, false},
		{"the close follows the objects", 100,
			[]string{"add a", "close 1001 bye"}, []string{"text a", "close 1001 bye"}, true},
		{"nothing is queued after the close", 100,
			[]string{"close 1000 ", "add a", "ping"}, []string{"close 1000 "}, true},
		{"only the first close counts", 100,
			[]string{"close 1001 bye", "close 1011 later"}, []string{"close 1001 bye"}, true},
		{"a 1008 close drops the objects", 100,
			[]string{"add a", "close 1008 out of sync"}, []string{"close 1008 out of sync"}, true},
		{"a protocol error's close drops the objects", 100,
			[]string{"add a", "drop 1009"}, []string{"close 1009 "}, true},
		{"an object larger than the limit fits an empty queue", 4,
			[]string{"add abcdefgh"}, []string{"text abcdefgh"}, false},
		{"objects up to the limit stay", 4,
			[]string{"add ab", "add cd"}, []string{"text ab\ncd"}, false},
		{"an object past the limit cuts the client off with 1008", 4,
			[]string{"add ab", "add cde", "add f"}, []string{"close 1008 " + tooSlow}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := &sendQueue{limit: tc.limit}
			queueOps(t, q, tc.ops)
			buf, last := q.take(nil)
			if got := describe(t, buf); !slices.Equal(got, tc.want) || last != tc.last {
				t.Fatalf("took %q (last %v), want %q (last %v)", got, last, tc.want, tc.last)
			}
			if buf, last := q.take(nil); len(buf) > 0 || last {
				t.Fatalf("a second take got %q (last %v), want nothing", describe(t, buf), last)
			}
		})
	}
}

func TestQueueReportsTheCloseThatClosedIt(t *testing.T) {
	q := &sendQueue{limit: 4}
	if _, closed := q.add([]byte("abc")); closed {
		t.Fatal("an object within the limit closed the queue")
	}
	if _, closed := q.add([]byte("de")); !closed {
		t.Fatal("the object past the limit did not report the close")
	}
	if _, closed := q.close(websocket.CloseNormalClosure, "", false); closed {
		t.Fatal("a close after the cut-off reported closing again")
	}
}

func TestQueueStartsOneWriterPerTurn(t *testing.T) {
	q := &sendQueue{limit: 1 << 20}
	if start, _ := q.add([]byte("a")); !start {
		t.Fatal("the first object of an idle queue did not start a writer")
	}
	if start, _ := q.add([]byte("b")); start {
		t.Fatal("a second object started a second writer")
	}
	if q.addControl(pingFrame) {
		t.Fatal("a ping started a second writer")
	}
	q.take(nil)
	if start, _ := q.add([]byte("c")); start {
		t.Fatal("an object queued during a write started a second writer")
	}
	if !q.wrote() {
		t.Fatal("the turn ended with an object waiting")
	}
	q.take(nil)
	if q.wrote() {
		t.Fatal("the turn went on with nothing waiting")
	}
	if start, _ := q.add([]byte("d")); !start {
		t.Fatal("an object after the turn ended did not start a writer")
	}
}

func TestQueueWaitReturnsWhenTheTurnEnds(t *testing.T) {
	for _, end := range []string{"written", "failed"} {
		t.Run(end, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				q := &sendQueue{limit: 1 << 20}
				q.add([]byte("a"))
				q.close(websocket.CloseGoingAway, "", false)
				waited := make(chan struct{})
				go func() { q.wait(); close(waited) }()
				synctest.Wait()
				select {
				case <-waited:
					t.Fatal("wait returned while a writer had the turn")
				default:
				}
				if end == "written" {
					if _, last := q.take(nil); !last || q.wrote() {
						t.Fatal("the close was not the end of the turn")
					}
				} else {
					q.fail()
				}
				<-waited
			})
		})
	}
}

func TestAFailedQueueTakesNothingMore(t *testing.T) {
	q := &sendQueue{limit: 1 << 20}
	q.add([]byte("a"))
	q.close(websocket.CloseGoingAway, "", false)
	q.fail()
	q.wait()
	if start, _ := q.add([]byte("b")); start {
		t.Fatal("an object after a failed write started a writer")
	}
	if buf, last := q.take(nil); len(buf) > 0 || last {
		t.Fatalf("took %q after a failed write", describe(t, buf))
	}
}

// BenchmarkQueue is one connection's share of a fan-out: objects added one
// by one, taken in batches as a pool writer would.
func BenchmarkQueue(b *testing.B) {
	obj := bytes.Repeat([]byte("x"), 200)
	q := &sendQueue{limit: 4 << 20}
	var buf []byte
	b.SetBytes(int64(len(obj)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		q.add(obj)
		if i%16 == 15 {
			buf, _ = q.take(buf[:0])
			q.wrote()
		}
	}
}
