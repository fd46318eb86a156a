package service_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/service"
)

// A send is answered once stored while the broker leaves its publishes
// unanswered, as a silent Redis does; the message it could not publish
// reaches the room's connections from the store once publishing works again.
// Every instance's hub, this one's included, learns of messages from the
// broker only, so the joined connection here stands for those of every
// instance.
func TestASendIsAcknowledgedOnceStoredWhilePublishesHang(t *testing.T) {
	broker := &silentBroker{}
	e := newEnv(t, func(_ *service.Config, b *service.Deps) {
		broker.Broker = b.Broker
		b.Broker = broker
	})
	c := e.company(t)

	broker.silence()
	t.Cleanup(broker.heal)
	type ack struct {
		m   chatserver.Message
		err error
	}
	acked := make(chan ack, 1)
	go func() {
		m, err := e.svc.Send(context.Background(), "alice", "general", "while the broker is silent", "s1")
		acked <- ack{m, err}
	}()
	select {
	case a := <-acked:
		if a.err != nil || a.m.Seq != 1 {
			t.Fatalf("send answered %+v, %v; want seq 1", a.m, a.err)
		}
	case <-time.After(waitLimit):
		t.Fatalf("no answer within %v while the publish hangs", waitLimit)
	}

	broker.heal()
	e.send(t, "alice", "general", "once it answers", "s2")
	c.bob1.await(t, "both messages reach bob's joined connection", func() bool { return c.bob1.messages("general") == "[1 2]" })
}

// silentBroker is a broker that can fall silent: its publishes then wait
// for their context to end and fail, until it is healed.
type silentBroker struct {
	chatserver.Broker

	mu     sync.Mutex
	healed chan struct{} // nil while publishes go through
}

func (b *silentBroker) silence() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.healed = make(chan struct{})
}

// heal ends the silence, if any: the publishes waiting fail.
func (b *silentBroker) heal() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.healed != nil {
		close(b.healed)
		b.healed = nil
	}
}

func (b *silentBroker) Publish(ctx context.Context, ev chatserver.Event) error {
	b.mu.Lock()
	healed := b.healed
	b.mu.Unlock()
	if healed == nil {
		return b.Broker.Publish(ctx, ev)
	}
	select {
	case <-ctx.Done():
	case <-healed:
	}
	return chatserver.Errorf(chatserver.EUnavailable, "the broker did not answer")
}
