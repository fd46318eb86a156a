package redis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

// recorder is a send function that records the groups it was given, and can
// be held so that publishes queue behind it.
type recorder struct {
	mu     sync.Mutex
	groups [][]string
	hold   chan struct{} // when not nil, each send waits for a receive
	err    error
}

func (r *recorder) send(_ context.Context, events [][]byte) error {
	if r.hold != nil {
		<-r.hold
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	g := make([]string, len(events))
	for i, e := range events {
		g[i] = string(e)
	}
	r.groups = append(r.groups, g)
	return r.err
}

func (r *recorder) sent() (groups [][]string, events []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.groups {
		events = append(events, g...)
	}
	return append([][]string(nil), r.groups...), events
}

func TestBatcherSendsEveryEventOnceInQueueOrderGroupedWhileBusy(t *testing.T) {
	r := &recorder{}
	b := testBatcher(t, r.send, time.Minute)
	const callers, each = 8, 200
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := range each {
				if err := b.publish(t.Context(), fmt.Appendf(nil, "%d/%d", c, i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	groups, events := r.sent()
	if len(events) != callers*each {
		t.Fatalf("%d events sent, want %d", len(events), callers*each)
	}
	next := make([]int, callers)
	for _, e := range events {
		var c, i int
		if _, err := fmt.Sscanf(e, "%d/%d", &c, &i); err != nil {
			t.Fatal(err)
		}
		if i != next[c] {
			t.Fatalf("caller %d: event %d sent when %d was next", c, i, next[c])
		}
		next[c]++
	}
	t.Logf("%d events in %d groups", len(events), len(groups))
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.busy || len(b.queue) != 0 {
		t.Fatalf("batcher left busy=%v with %d queued", b.busy, len(b.queue))
	}
}

func TestBatcherPutsWhatQueuedBehindASendIntoOneGroup(t *testing.T) {
	r := &recorder{hold: make(chan struct{})}
	b := testBatcher(t, r.send, time.Minute)
	first := make(chan error, 1)
	go func() { first <- b.publish(t.Context(), []byte("first")) }()
	waitFor(t, "the first send", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.busy && len(b.queue) == 0 })
	errs := make(chan error, 5)
	for i := range 5 {
		go func() { errs <- b.publish(t.Context(), fmt.Appendf(nil, "e%d", i)) }()
	}
	waitFor(t, "five queued", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.queue) == 5 })
	r.hold <- struct{}{} // the first group goes
	r.hold <- struct{}{} // the group of five
	for range 5 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if groups, _ := r.sent(); len(groups) != 2 || len(groups[0]) != 1 || len(groups[1]) != 5 {
		t.Fatalf("groups %q, want [first] then the five", groups)
	}
}

func TestBatcherCallerWhoseContextEndsWhileQueuedTakesItsEventBack(t *testing.T) {
	r := &recorder{hold: make(chan struct{})}
	b := testBatcher(t, r.send, time.Minute)
	first := make(chan error, 1)
	go func() { first <- b.publish(t.Context(), []byte("first")) }()
	waitFor(t, "the first send", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.busy })
	ctx, cancel := context.WithCancel(t.Context())
	gaveUp := make(chan error, 1)
	go func() { gaveUp <- b.publish(ctx, []byte("late")) }()
	waitFor(t, "late queued", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.queue) == 1 })
	cancel()
	if err := <-gaveUp; chatserver.ErrorCode(err) != chatserver.EUnavailable {
		t.Fatalf("a caller that gave up got %v, want unavailable", err)
	}
	r.hold <- struct{}{}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	r.hold = nil
	if err := b.publish(t.Context(), []byte("after")); err != nil {
		t.Fatalf("a publish after the one given up: %v", err)
	}
	if _, events := r.sent(); fmt.Sprint(events) != "[first after]" {
		t.Fatalf("sent %q, want first and after only", events)
	}
}

func TestBatcherServesLaterPublishesAfterCallersGaveUp(t *testing.T) {
	// Many callers with deadlines that end at random points, a slow send:
	// the queue must be sent on whoever gave up, or every later publish
	// would wait for good.
	r := &recorder{}
	slow := func(ctx context.Context, events [][]byte) error {
		time.Sleep(200 * time.Microsecond)
		return r.send(ctx, events)
	}
	b := testBatcher(t, slow, time.Minute)
	var wg sync.WaitGroup
	for c := range 16 {
		wg.Go(func() {
			for i := range 100 {
				ctx, cancel := context.WithTimeout(t.Context(), time.Duration((c*7+i)%5)*100*time.Microsecond)
				err := b.publish(ctx, []byte("x"))
				cancel()
				if err != nil && chatserver.ErrorCode(err) != chatserver.EUnavailable {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	done := make(chan error, 1)
	go func() { done <- b.publish(t.Context(), []byte("last")) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a publish after callers gave up never returned: the queue was left without a sender")
	}
}

func TestBatcherGroupsStopAtMaxBatchBytesAndEveryCallerGetsItsGroupsOutcome(t *testing.T) {
	failing := errors.New("redis is away")
	r := &recorder{hold: make(chan struct{}), err: failing}
	b := testBatcher(t, r.send, time.Minute)
	big := bytes.Repeat([]byte("b"), maxBatchBytes/2+1)
	first := make(chan error, 1)
	go func() { first <- b.publish(t.Context(), []byte("first")) }()
	waitFor(t, "the first send", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.busy })
	errs := make(chan error, 3)
	for range 3 {
		go func() { errs <- b.publish(t.Context(), big) }()
		waitFor(t, "queued", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.queue) > 0 })
	}
	waitFor(t, "three queued", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.queue) == 3 })
	for range 4 {
		r.hold <- struct{}{}
	}
	for range 3 {
		if err := <-errs; !errors.Is(err, failing) {
			t.Fatalf("got %v, want the send's error", err)
		}
	}
	if err := <-first; !errors.Is(err, failing) {
		t.Fatalf("got %v, want the send's error", err)
	}
	groups, _ := r.sent()
	var sizes []int
	for _, g := range groups {
		sizes = append(sizes, len(g))
	}
	if fmt.Sprint(sizes) != "[1 1 1 1]" {
		t.Fatalf("group sizes %v: two events over maxBatchBytes went in one group", sizes)
	}
}

func TestGroupEnvelope(t *testing.T) {
	evs := []chatserver.Event{
		{Kind: chatserver.EventMessage, Room: "general", User: "alice", Seq: 1, Rev: 1, Frame: []byte(`{"a":1}`)},
		{Kind: chatserver.EventUpdate, Room: "general", User: "bob", Seq: 1, Rev: 2, Frame: []byte{0, '\n', 0xff}},
		{Kind: chatserver.EventPresence, User: "carol"},
	}
	var encoded [][]byte
	for _, ev := range evs {
		encoded = append(encoded, encodeEvent(ev))
	}
	group := encodeBatch(encoded)
	var got []chatserver.Event
	if err := decodePayload(group, func(ev chatserver.Event) { got = append(got, ev) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(evs) {
		t.Fatalf("decoded %d events, want %d", len(got), len(evs))
	}
	for i := range evs {
		if got[i].Kind != evs[i].Kind || got[i].Room != evs[i].Room || got[i].User != evs[i].User || got[i].Rev != evs[i].Rev || !bytes.Equal(got[i].Frame, evs[i].Frame) {
			t.Errorf("event %d = %+v, want %+v", i, got[i], evs[i])
		}
	}
	for name, b := range map[string][]byte{
		"truncated":          group[:len(group)-1],
		"length past end":    {batchVersion, 0x7f, envelopeVersion},
		"bad inner envelope": {batchVersion, 1, 9},
	} {
		delivered := 0
		if err := decodePayload(b, func(chatserver.Event) { delivered++ }); err == nil || delivered != 0 {
			t.Errorf("%s: err %v, %d delivered; want an error and nothing delivered", name, err, delivered)
		}
	}
}

// testBatcher starts a batcher that sends with send and stops when the test
// ends.
func testBatcher(t *testing.T, send func(context.Context, [][]byte) error, timeout time.Duration) *batcher {
	t.Helper()
	b := newBatcher(send, timeout)
	t.Cleanup(b.close)
	return b
}

func queuedLen(b *batcher) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

func TestBatcherCallerGivesUpAtItsDeadlineWhileItsGroupIsInFlight(t *testing.T) {
	r := &recorder{hold: make(chan struct{})}
	b := testBatcher(t, r.send, time.Minute)
	first := make(chan error, 1)
	go func() { first <- b.publish(t.Context(), []byte("first")) }()
	waitFor(t, "the first send", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.busy })
	patient, hasty := make(chan error, 1), make(chan error, 1)
	go func() { patient <- b.publish(t.Context(), []byte("patient")) }()
	waitFor(t, "patient queued", func() bool { return queuedLen(b) == 1 })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { hasty <- b.publish(ctx, []byte("hasty")) }()
	waitFor(t, "hasty queued", func() bool { return queuedLen(b) == 2 })
	r.hold <- struct{}{} // the first goes; the group of two is taken and held
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the group in flight", func() bool { return queuedLen(b) == 0 })
	cancel()
	if err := <-hasty; chatserver.ErrorCode(err) != chatserver.EUnavailable {
		t.Fatalf("a caller that gave up while its group was in flight got %v, want unavailable", err)
	}
	r.hold <- struct{}{}
	if err := <-patient; err != nil {
		t.Fatal(err)
	}
	if groups, _ := r.sent(); fmt.Sprint(groups) != "[[first] [patient hasty]]" {
		t.Fatalf("groups %q, want [first] then [patient hasty]", groups)
	}
}

func TestBatcherQueuedCallerFailsWithinTheTimeoutWhateverItsContext(t *testing.T) {
	r := &recorder{hold: make(chan struct{})}
	const timeout = 50 * time.Millisecond
	b := testBatcher(t, r.send, timeout)
	go func() { _ = b.publish(t.Context(), []byte("stuck")) }()
	waitFor(t, "the first send", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.busy })
	start := time.Now()
	err := b.publish(t.Context(), []byte("queued"))
	if chatserver.ErrorCode(err) != chatserver.EUnavailable {
		t.Fatalf("a publish queued behind a stuck send got %v, want unavailable", err)
	}
	if took := time.Since(start); took < timeout {
		t.Fatalf("gave up after %v, before the timeout of %v", took, timeout)
	}
	if n := queuedLen(b); n != 0 {
		t.Fatalf("%d events left queued by a caller that gave up", n)
	}
	r.hold <- struct{}{}
}

func TestBatcherCloseFailsWhatQueued(t *testing.T) {
	r := &recorder{hold: make(chan struct{})}
	b := newBatcher(r.send, time.Minute)
	first := make(chan error, 1)
	go func() { first <- b.publish(t.Context(), []byte("first")) }()
	waitFor(t, "the first send", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.busy })
	queued := make(chan error, 1)
	go func() { queued <- b.publish(t.Context(), []byte("queued")) }()
	waitFor(t, "queued", func() bool { return queuedLen(b) == 1 })
	closed := make(chan struct{})
	go func() { b.close(); close(closed) }()
	if err := <-queued; chatserver.ErrorCode(err) != chatserver.EUnavailable {
		t.Fatalf("a publish queued at close got %v, want unavailable", err)
	}
	<-closed
	r.hold <- struct{}{}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := b.publish(t.Context(), []byte("after")); chatserver.ErrorCode(err) != chatserver.EUnavailable {
		t.Fatalf("a publish after close got %v, want unavailable", err)
	}
	if _, events := r.sent(); fmt.Sprint(events) != "[first]" {
		t.Fatalf("sent %q, want only the send in flight at close", events)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestConcurrentPublishesReachEverySubscriberInEachPublishersOrder(t *testing.T) {
	url, prefix, ctx := sharedURL(t), testPrefix(t), ctxT(t)
	a, b := instance(t, url, prefix, "a"), instance(t, url, prefix, "b")
	subs := []*collector{subscribe(t, a.Broker()), subscribe(t, b.Broker())}
	waitSubscribers(t, a, 2)
	const publishers, each = 16, 100
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := 1; i <= each; i++ {
				ev := chatserver.Event{Kind: chatserver.EventMessage, Room: fmt.Sprintf("room%d", p), User: "alice", Seq: int64(i),
					Frame: fmt.Appendf(nil, `{"seq":%d}`, i)}
				if err := b.Broker().Publish(ctx, ev); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i, col := range subs {
		eventually(t, 10*time.Second, fmt.Sprintf("subscriber %d has every event", i), func() error {
			if got := len(col.snapshot()); got < publishers*each {
				return fmt.Errorf("%d of %d", got, publishers*each)
			}
			return nil
		})
		next := map[string]int64{}
		for _, ev := range col.snapshot() {
			if ev.Seq != next[ev.Room]+1 || string(ev.Frame) != fmt.Sprintf(`{"seq":%d}`, ev.Seq) {
				t.Fatalf("subscriber %d: %s seq %d (%s) after %d", i, ev.Room, ev.Seq, ev.Frame, next[ev.Room])
			}
			next[ev.Room] = ev.Seq
		}
		if got := len(col.snapshot()); got != publishers*each {
			t.Fatalf("subscriber %d got %d events, want %d", i, got, publishers*each)
		}
	}
}
