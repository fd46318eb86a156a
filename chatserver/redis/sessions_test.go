package redis

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

func TestSessions(t *testing.T) {
	url, prefix := sharedURL(t), testPrefix(t)
	a, b := instance(t, url, prefix, "a").Sessions(), instance(t, url, prefix, "b").Sessions()
	ctx := ctxT(t)
	now := time.Now().UTC().Truncate(time.Millisecond)

	t.Run("a session created on one instance is valid on another", func(t *testing.T) {
		s := chatserver.Session{TokenHash: "h1", User: "alice", Created: now, Expires: now.Add(time.Hour)}
		if err := a.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		got, err := b.Session(ctx, "h1")
		if err != nil {
			t.Fatal(err)
		}
		if got.TokenHash != s.TokenHash || got.User != s.User || !got.Created.Equal(s.Created) || !got.Expires.Equal(s.Expires) {
			t.Fatalf("Session = %+v, want %+v", got, s)
		}
	})
	t.Run("a deleted session is unauthorized everywhere", func(t *testing.T) {
		s := chatserver.Session{TokenHash: "h2", User: "bob", Created: now, Expires: now.Add(time.Hour)}
		if err := a.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := b.DeleteSession(ctx, "h2"); err != nil {
			t.Fatal(err)
		}
		_, err := a.Session(ctx, "h2")
		wantCode(t, err, chatserver.EUnauthorized)
	})
	t.Run("deleting an unknown session is no error", func(t *testing.T) {
		if err := a.DeleteSession(ctx, "never"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("an unknown session is unauthorized", func(t *testing.T) {
		_, err := a.Session(ctx, "never")
		wantCode(t, err, chatserver.EUnauthorized)
	})
	t.Run("a session expires with its expiry, also in Redis", func(t *testing.T) {
		exp := time.Now().Add(300 * time.Millisecond)
		if err := a.CreateSession(ctx, chatserver.Session{TokenHash: "h3", User: "carol", Created: now, Expires: exp}); err != nil {
			t.Fatal(err)
		}
		ttl, err := a.(*Sessions).c.rdb.PTTL(ctx, prefix+":session:h3").Result()
		if err != nil || ttl <= 0 || ttl > 301*time.Millisecond { // the expiry is rounded up to the millisecond
			t.Fatalf("PTTL = %v, %v; want a TTL up to the session's expiry", ttl, err)
		}
		eventually(t, 10*time.Second, "session expired", func() error {
			_, err := b.Session(ctx, "h3")
			switch {
			case err == nil:
				return errors.New("still valid")
			case chatserver.ErrorCode(err) == chatserver.EUnauthorized:
				return nil
			}
			return err
		})
		if time.Now().Before(exp) {
			t.Fatalf("session ended before its expiry %v", exp)
		}
	})
	t.Run("a session that has already expired is refused", func(t *testing.T) {
		err := a.CreateSession(context.Background(), chatserver.Session{TokenHash: "h4", User: "dave", Expires: time.Now().Add(-time.Second)})
		wantCode(t, err, chatserver.EBadRequest)
	})
}
