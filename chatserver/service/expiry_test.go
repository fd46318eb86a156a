package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver/hub"
	"github.com/chatcluster/chatcluster/chatserver/service"
)

// A connection ends with its session: when the session expires, every
// instance closes the connections it holds of that session with 1008, as a
// sign-out does.
func TestAConnectionClosesWhenItsSessionExpires(t *testing.T) {
	const ttl = 2 * time.Second
	e := newEnv(t, func(cfg *service.Config, _ *service.Deps) { cfg.SessionTTL = ttl })
	token, _, err := e.svc.Login(context.Background(), "alice", password)
	if err != nil {
		t.Fatal(err)
	}
	other := e.another(t, func(*service.Config) {})
	_, here := e.connectWith(t, "alice", token)
	there := newSink()
	if _, err := other.Connect(context.Background(), "alice", token, there); err != nil {
		t.Fatal(err)
	}
	if here.closedWith() != 0 || there.closedWith() != 0 {
		t.Fatal("a connection of a live session was closed")
	}
	for name, s := range map[string]*sink{"on this instance": here, "on another": there} {
		t.Run(name, func(t *testing.T) {
			s.await(t, "the connection closed", func() bool { return s.closedWith() != 0 })
			if code := s.closedWith(); code != hub.ClosePolicy {
				t.Fatalf("closed with %d, want 1008", code)
			}
		})
	}
}
