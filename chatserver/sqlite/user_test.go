package sqlite

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver"
)

func TestAccounts(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	alice := chatserver.Account{ID: "alice", PasswordHash: []byte("hash-a"), Created: time0}
	proxied := chatserver.Account{ID: "bob.proxy", Created: time0.Add(time.Second), LastSeen: time0}
	for _, a := range []chatserver.Account{proxied, alice} {
		if err := db.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("ErrConflictWhenTheIDExists", func(t *testing.T) {
		wantCode(t, db.CreateAccount(ctx, chatserver.Account{ID: "alice", PasswordHash: []byte("other")}), chatserver.EConflict)
		a, err := db.Account(ctx, "alice")
		if err != nil || !reflect.DeepEqual(a, alice) {
			t.Fatalf("the first account must stay: %+v %v", a, err)
		}
	})
	t.Run("ErrBadRequestForAnInvalidID", func(t *testing.T) {
		wantCode(t, db.CreateAccount(ctx, chatserver.Account{ID: "Alice"}), chatserver.EBadRequest)
	})
	t.Run("AccountAsCreated", func(t *testing.T) {
		for _, want := range []chatserver.Account{alice, proxied} {
			got, err := db.Account(ctx, want.ID)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v %v, want %+v", got, err, want)
			}
		}
	})
	t.Run("ErrNotFoundForAnUnknownID", func(t *testing.T) {
		_, err := db.Account(ctx, "carol")
		wantCode(t, err, chatserver.ENotFound)
	})
	t.Run("AccountsSortedByID", func(t *testing.T) {
		got, err := db.Accounts(ctx)
		if err != nil || !reflect.DeepEqual(got, []chatserver.Account{alice, proxied}) {
			t.Fatalf("%+v %v", got, err)
		}
	})
	t.Run("SetLastSeen", func(t *testing.T) {
		seen := time0.Add(time.Hour)
		if err := db.SetLastSeen(ctx, "alice", seen); err != nil {
			t.Fatal(err)
		}
		a, err := db.Account(ctx, "alice")
		if err != nil || !a.LastSeen.Equal(seen) {
			t.Fatalf("last seen %v %v, want %v", a.LastSeen, err, seen)
		}
	})
	t.Run("SetLastSeenErrNotFoundForAnUnknownID", func(t *testing.T) {
		wantCode(t, db.SetLastSeen(ctx, "carol", time0), chatserver.ENotFound)
	})
}

func TestAccountsEmpty(t *testing.T) {
	got, err := open(t).Accounts(context.Background())
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("%#v %v; want an empty, non-nil list", got, err)
	}
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	if err := db.CreateAccount(ctx, chatserver.Account{ID: "alice", Created: time0}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	valid := chatserver.Session{TokenHash: "h-valid", User: "alice", Created: now, Expires: now.Add(time.Hour)}
	expired := chatserver.Session{TokenHash: "h-expired", User: "alice", Created: now.Add(-2 * time.Hour), Expires: now.Add(-time.Hour)}
	forever := chatserver.Session{TokenHash: "h-forever", User: "alice", Created: now}
	for _, s := range []chatserver.Session{valid, expired, forever} {
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("ValidAsCreated", func(t *testing.T) {
		for _, want := range []chatserver.Session{valid, forever} {
			got, err := db.Session(ctx, want.TokenHash)
			if err != nil || got.TokenHash != want.TokenHash || got.User != want.User ||
				!got.Created.Equal(want.Created) || !got.Expires.Equal(want.Expires) {
				t.Fatalf("got %+v %v, want %+v", got, err, want)
			}
		}
	})
	t.Run("ErrUnauthorizedWhenExpired", func(t *testing.T) {
		_, err := db.Session(ctx, expired.TokenHash)
		wantCode(t, err, chatserver.EUnauthorized)
	})
	t.Run("ASignInDeletesTheExpired", func(t *testing.T) {
		if err := db.CreateSession(ctx, chatserver.Session{TokenHash: "h-purger", User: "alice", Created: now}); err != nil {
			t.Fatal(err)
		}
		var left int
		if err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions WHERE token_hash = ?`, expired.TokenHash).Scan(&left); err != nil || left != 0 {
			t.Fatalf("expired session rows: %d, %v", left, err)
		}
		if _, err := db.Session(ctx, valid.TokenHash); err != nil {
			t.Fatalf("a live session went too: %v", err)
		}
	})
	t.Run("ErrUnauthorizedWhenUnknown", func(t *testing.T) {
		_, err := db.Session(ctx, "h-unknown")
		wantCode(t, err, chatserver.EUnauthorized)
	})
	t.Run("ErrNotFoundForAnUnknownUser", func(t *testing.T) {
		wantCode(t, db.CreateSession(ctx, chatserver.Session{TokenHash: "h-x", User: "mallory", Created: now}), chatserver.ENotFound)
	})
	t.Run("ErrConflictForATakenHash", func(t *testing.T) {
		wantCode(t, db.CreateSession(ctx, valid), chatserver.EConflict)
	})
	t.Run("DeleteEndsIt", func(t *testing.T) {
		s := chatserver.Session{TokenHash: "h-delete", User: "alice", Created: now, Expires: now.Add(time.Hour)}
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteSession(ctx, s.TokenHash); err != nil {
			t.Fatal(err)
		}
		_, err := db.Session(ctx, s.TokenHash)
		wantCode(t, err, chatserver.EUnauthorized)
		if _, err := db.Session(ctx, valid.TokenHash); err != nil {
			t.Fatalf("another session ended too: %v", err)
		}
	})
	t.Run("DeleteUnknownIsNoError", func(t *testing.T) {
		if err := db.DeleteSession(ctx, "h-never"); err != nil {
			t.Fatal(err)
		}
	})
}
