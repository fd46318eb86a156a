package inmem

import (
	"context"
	"sync"

	"github.com/chatcluster/chatcluster/chatserver"
)

var _ chatserver.Broker = (*Broker)(nil)

// Broker hands every published event straight to the subscribers of this
// process, in the publisher's goroutine.
type Broker struct {
	mu   sync.RWMutex
	subs map[*func(chatserver.Event)]struct{}
}

// NewBroker returns a broker without subscribers.
func NewBroker() *Broker {
	return &Broker{subs: map[*func(chatserver.Event)]struct{}{}}
}

// Publish delivers ev to every current subscriber.
func (b *Broker) Publish(_ context.Context, ev chatserver.Event) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for d := range b.subs {
		(*d)(ev)
	}
	return nil
}

// Subscribe delivers events to deliver until ctx ends.
func (b *Broker) Subscribe(ctx context.Context, deliver func(chatserver.Event)) error {
	key := &deliver
	b.mu.Lock()
	b.subs[key] = struct{}{}
	b.mu.Unlock()
	<-ctx.Done()
	b.mu.Lock()
	delete(b.subs, key)
	b.mu.Unlock()
	return nil
}
