package inmem_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/inmem"
)

func TestPresence(t *testing.T) {
	ctx := context.Background()
	p := inmem.NewPresence()
	steps := []struct {
		name    string
		connect bool
		conn    string
		want    bool
	}{
		{"FirstConnectionGoesOnline", true, "c1", true},
		{"SecondConnectionChangesNothing", true, "c2", false},
		{"ClosingOneOfTwoChangesNothing", false, "c1", false},
		{"ClosingUnknownChangesNothing", false, "c9", false},
		{"ClosingTheLastGoesOffline", false, "c2", true},
		{"ClosingAgainChangesNothing", false, "c2", false},
	}
	for _, s := range steps {
		var got bool
		var err error
		if s.connect {
			got, err = p.Connect(ctx, "alice", s.conn)
		} else {
			got, err = p.Disconnect(ctx, "alice", s.conn)
		}
		if err != nil || got != s.want {
			t.Fatalf("%s: got %v, %v; want %v", s.name, got, err, s.want)
		}
	}
	if on, _ := p.Online(ctx); len(on) != 0 {
		t.Fatalf("online after all closed: %v", on)
	}
}

func TestBrokerDeliversToEverySubscriberUntilCancelled(t *testing.T) {
	b := inmem.NewBroker()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // ends the subscribers if the test fails before it cancels
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.Subscribe(ctx, func(chatserver.Event) { mu.Lock(); got[i]++; mu.Unlock() }); err != nil {
				t.Errorf("subscriber %d: %v", i, err)
			}
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := b.Publish(ctx, chatserver.Event{Kind: chatserver.EventMessage}); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	wg.Wait()
	if len(got) != 2 {
		t.Fatalf("subscribers reached: %v", got)
	}
	mu.Lock()
	before := got[0]
	mu.Unlock()
	if err := b.Publish(context.Background(), chatserver.Event{}); err != nil {
		t.Fatal(err)
	}
	if got[0] != before {
		t.Fatal("delivered after unsubscribe")
	}
}
