package inmem

import (
	"context"
	"sync"

	"github.com/chatcluster/chatcluster/chatserver"
)

var _ chatserver.Presence = (*Presence)(nil)

// Presence counts connections per user inside one process.
type Presence struct {
	mu    sync.Mutex
	conns map[string]map[string]struct{} // user -> connection ids
}

// NewPresence returns an empty registry.
func NewPresence() *Presence {
	return &Presence{conns: map[string]map[string]struct{}{}}
}

// Connect counts conn for user and reports whether the user was offline.
func (p *Presence) Connect(_ context.Context, user, conn string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	set, ok := p.conns[user]
	if !ok {
		set = map[string]struct{}{}
		p.conns[user] = set
	}
	set[conn] = struct{}{}
	return !ok, nil
}

// Disconnect forgets conn and reports whether it was the user's last.
func (p *Presence) Disconnect(_ context.Context, user, conn string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	set, ok := p.conns[user]
	if !ok {
		return false, nil
	}
	if _, ok := set[conn]; !ok {
		return false, nil
	}
	delete(set, conn)
	if len(set) > 0 {
		return false, nil
	}
	delete(p.conns, user)
	return true, nil
}

// Online returns the users with at least one connection.
func (p *Presence) Online(context.Context) (map[string]bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]bool, len(p.conns))
	for u := range p.conns {
		out[u] = true
	}
	return out, nil
}

// Reap has nothing to do in one process: connections end with it.
func (p *Presence) Reap(context.Context) ([]string, error) { return nil, nil }
