package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/app"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/redis/redistest"
	"github.com/chatcluster/chatcluster/chatserver/sqlite"
	"github.com/chatcluster/chatcluster/chatserver/wire"
)

// signInAnswer is the answer to a sign-in.
type signInAnswer struct {
	status     int
	retryAfter string
	body       []byte
}

// errorBody decodes the answer's {"error": …}.
func (a signInAnswer) errorBody(t *testing.T) wire.ErrorBody {
	t.Helper()
	var v struct{ Error wire.ErrorBody }
	if err := json.Unmarshal(a.body, &v); err != nil {
		t.Fatalf("answer %d %s: %v", a.status, a.body, err)
	}
	return v.Error
}

// signInFrom signs in to the server at base from the loopback address ip
// (127.0.0.1, 127.0.0.2, …), as a client at another address would.
func signInFrom(t *testing.T, base, ip, user, pw string) signInAnswer {
	t.Helper()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true}}
	body, _ := json.Marshal(map[string]string{"username": user, "password": pw})
	req, err := http.NewRequest(http.MethodPost, base+"/api/session", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("sign in %s from %s: %v", user, ip, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return signInAnswer{resp.StatusCode, resp.Header.Get("Retry-After"), b}
}

// wantLimited fails t unless a is a 429 with the contract's error and a
// Retry-After of 1 to most seconds.
func wantLimited(t *testing.T, a signInAnswer, most int) {
	t.Helper()
	if a.status != http.StatusTooManyRequests {
		t.Fatalf("status %d %s, want 429", a.status, a.body)
	}
	if e := a.errorBody(t); e.Code != chatserver.ERateLimited || e.Message == "" {
		t.Fatalf("error %+v, want rate_limited with a message", e)
	}
	if secs, err := strconv.Atoi(a.retryAfter); err != nil || secs < 1 || secs > most {
		t.Fatalf("Retry-After %q, want 1 to %d seconds", a.retryAfter, most)
	}
}

func TestSignInThrottledAfterTooManyWrongGuesses(t *testing.T) {
	s := newServer(t, "CHAT_SIGNIN_USER_FAILURES", "3", "CHAT_SIGNIN_FAILURE_WINDOW", "15m")
	chattest.Login(t, s.URL, "alice", pw)
	chattest.Login(t, s.URL, "bob", pw)
	t.Run("the first wrong guesses are unauthorized", func(t *testing.T) {
		for range 3 {
			if a := signInFrom(t, s.URL, "127.0.0.1", "alice", "wrong-guess"); a.status != http.StatusUnauthorized {
				t.Fatalf("status %d %s, want 401", a.status, a.body)
			}
		}
	})
	t.Run("the next sign-in of the name is 429 with Retry-After, also with the right password", func(t *testing.T) {
		wantLimited(t, signInFrom(t, s.URL, "127.0.0.1", "alice", "wrong-guess"), 300)
		wantLimited(t, signInFrom(t, s.URL, "127.0.0.2", "alice", pw), 300)
	})
	t.Run("another user signs in meanwhile from another address", func(t *testing.T) {
		if a := signInFrom(t, s.URL, "127.0.0.2", "bob", pw); a.status != http.StatusOK {
			t.Fatalf("status %d %s", a.status, a.body)
		}
	})
	t.Run("the limit is counted in the metrics", func(t *testing.T) {
		_, body := chattest.Do(t, http.MethodGet, s.URL+"/metrics", "", nil)
		if want := `chat_signin_limited_total{limit="user_failures"} 2`; !strings.Contains(string(body), want) {
			t.Fatalf("/metrics has no %s", want)
		}
	})
}

func TestUnknownNameAndWrongPasswordGetTheSameAnswer(t *testing.T) {
	s := newServer(t)
	chattest.Login(t, s.URL, "carol", pw)
	long := strings.Repeat("p", chatserver.MaxPasswordLen+1)
	want := signInFrom(t, s.URL, "127.0.0.1", "carol", "wrong-guess")
	if want.status != http.StatusUnauthorized || want.errorBody(t).Code != chatserver.EUnauthorized {
		t.Fatalf("a wrong password: %d %s", want.status, want.body)
	}
	for name, try := range map[string]struct{ user, pw string }{
		"an over-long password for an unknown name": {"nobody", long},
		"an over-long password for a known name":    {"carol", long},
	} {
		t.Run(name, func(t *testing.T) {
			got := signInFrom(t, s.URL, "127.0.0.1", try.user, try.pw)
			if got.status != want.status || !bytes.Equal(got.body, want.body) {
				t.Fatalf("%d %s, want %d %s", got.status, got.body, want.status, want.body)
			}
		})
	}
}

func TestCommonPasswordRefusedAtRegistration(t *testing.T) {
	s := newServer(t, "CHAT_PASSWORD_REFUSE_COMMON", "true")
	a := signInFrom(t, s.URL, "127.0.0.1", "dave", "Password1")
	if a.status != http.StatusBadRequest || a.errorBody(t).Code != chatserver.EBadRequest {
		t.Fatalf("a common password: %d %s, want 400 bad_request", a.status, a.body)
	}
	// Had the common password registered dave, another would be wrong.
	if a := signInFrom(t, s.URL, "127.0.0.1", "dave", "dave-picks-a-better-one"); a.status != http.StatusOK {
		t.Fatalf("an uncommon password: %d %s", a.status, a.body)
	}
}

func TestRegistrationsCappedPerClientAddress(t *testing.T) {
	s := newServer(t, "CHAT_SIGNUPS_PER_ADDRESS", "2")
	for _, user := range []string{"erin", "frank"} {
		if a := signInFrom(t, s.URL, "127.0.0.1", user, pw); a.status != http.StatusOK {
			t.Fatalf("register %s: %d %s", user, a.status, a.body)
		}
	}
	t.Run("one more from the address is 429 with Retry-After", func(t *testing.T) {
		wantLimited(t, signInFrom(t, s.URL, "127.0.0.1", "grace", pw), 1800)
	})
	t.Run("a registered name still signs in from the address", func(t *testing.T) {
		if a := signInFrom(t, s.URL, "127.0.0.1", "erin", pw); a.status != http.StatusOK {
			t.Fatalf("%d %s", a.status, a.body)
		}
	})
	t.Run("another address registers", func(t *testing.T) {
		if a := signInFrom(t, s.URL, "127.0.0.2", "grace", pw); a.status != http.StatusOK {
			t.Fatalf("%d %s", a.status, a.body)
		}
	})
}

func TestWrongGuessesFromAnAddressThrottleOnlyThatAddress(t *testing.T) {
	s := newServer(t, "CHAT_SIGNIN_ADDRESS_FAILURES", "3", "CHAT_SIGNIN_FAILURE_WINDOW", "15m")
	for _, user := range []string{"heidi", "ivan"} {
		if a := signInFrom(t, s.URL, "127.0.0.2", user, pw); a.status != http.StatusOK {
			t.Fatalf("register %s: %d %s", user, a.status, a.body)
		}
	}
	// Two wrong passwords and a refused registration.
	for _, try := range [][2]string{{"heidi", "wrong-guess"}, {"ivan", "wrong-guess"}, {"judy", "short"}} {
		if a := signInFrom(t, s.URL, "127.0.0.1", try[0], try[1]); a.status == http.StatusOK {
			t.Fatalf("%s signed in with %q", try[0], try[1])
		}
	}
	t.Run("the address is 429 with Retry-After for every name", func(t *testing.T) {
		wantLimited(t, signInFrom(t, s.URL, "127.0.0.1", "heidi", pw), 300)
	})
	t.Run("the right password of another user from another address works", func(t *testing.T) {
		if a := signInFrom(t, s.URL, "127.0.0.2", "ivan", pw); a.status != http.StatusOK {
			t.Fatalf("%d %s", a.status, a.body)
		}
	})
}

// Two servers on one Redis share the limits: the wrong guesses sent to one
// throttle the name on the other.
func TestServersOnOneRedisShareTheSignInLimits(t *testing.T) {
	redistest.QuietClientLog()
	r, err := redistest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	store, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.WithoutFsync())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() }) // after the servers'
	instance := func(id string) *testServer {
		return newServerWith(t, serverOpts{
			env:  []string{"CHAT_REDIS_URL", r.URL(), "CHAT_INSTANCE_ID", id, "CHAT_SIGNIN_USER_FAILURES", "2"},
			opts: app.Options{SQLite: store},
		})
	}
	a, b := instance("a"), instance("b")
	chattest.Login(t, a.URL, "olga", pw)
	for _, s := range []*testServer{a, b} {
		if got := signInFrom(t, s.URL, "127.0.0.1", "olga", "wrong-guess"); got.status != http.StatusUnauthorized {
			t.Fatalf("a wrong guess: %d %s", got.status, got.body)
		}
	}
	wantLimited(t, signInFrom(t, b.URL, "127.0.0.2", "olga", pw), 450)
	wantLimited(t, signInFrom(t, a.URL, "127.0.0.2", "olga", pw), 450)
}
