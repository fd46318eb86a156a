package httpapi_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/chatcluster/chatcluster/chatserver"
	"github.com/chatcluster/chatcluster/chatserver/app"
	"github.com/chatcluster/chatcluster/chatserver/chattest"
	"github.com/chatcluster/chatcluster/chatserver/config"
	"github.com/chatcluster/chatcluster/chatserver/httpapi"
)

const pw = "chat-secret-1"

type testServer struct {
	*app.Server
	URL    string       // http://… or, with serverOpts.tls, https://…
	Client *http.Client // trusts the server's certificate, for TLS
	Unix   string       // with serverOpts.unix: the Unix socket it also serves on
}

// newServer runs the whole server (package app) on a listener of the test's,
// configured by the CHAT_* variables and values in kv on top of an admin, no
// rate limit and a data directory of its own: the embedded SQLite store and
// in-memory presence and fan-out unless kv configures other backends.
func newServer(t *testing.T, kv ...string) *testServer {
	t.Helper()
	return newServerWith(t, serverOpts{env: kv})
}

// serverOpts change what newServerWith runs; zero fields change nothing.
type serverOpts struct {
	env  []string    // CHAT_* variables and values
	opts app.Options // but the chat listener, which newServerWith makes
	tls  bool        // serve the chat over TLS
	unix bool        // serve the chat on a Unix socket too (testServer.Unix)
}

func newServerWith(t *testing.T, o serverOpts) *testServer {
	t.Helper()
	vars := map[string]string{
		"CHAT_DATA_DIR": t.TempDir(), "CHAT_ADMINS": "admin", "CHAT_ADMIN_PASSWORD": "adminpass1",
		"CHAT_RATE_LIMIT": "0", "CHAT_SHUTDOWN_TIMEOUT": "5s",
	}
	for i := 0; i+1 < len(o.env); i += 2 {
		vars[o.env[i]] = o.env[i+1]
	}
	cfg, err := config.Parse("chatserver", nil, func(k string) string { return vars[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{URL: "http://" + ln.Addr().String(), Client: http.DefaultClient}
	if o.tls {
		// An httptest server only for its certificate and a client that
		// trusts it; it outlives the server under test.
		certs := httptest.NewTLSServer(http.NotFoundHandler())
		t.Cleanup(certs.Close)
		ln = tls.NewListener(ln, certs.TLS)
		ts.URL, ts.Client = "https://"+ln.Addr().String(), certs.Client()
	}
	if o.unix {
		ts.Unix = filepath.Join(t.TempDir(), "chat.sock")
		uln, err := net.Listen("unix", ts.Unix)
		if err != nil {
			t.Fatal(err)
		}
		ln = bothListener(ln, uln)
	}
	opts := o.opts
	opts.Listener = ln
	ts.Server = app.New(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), opts)
	if err := ts.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ts.Close() })
	return ts
}

// bothListener accepts the connections of two listeners.
func bothListener(a, b net.Listener) net.Listener {
	l := &twoListener{Listener: a, b: b, conns: make(chan net.Conn), done: make(chan struct{})}
	for _, ln := range []net.Listener{a, b} {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				select {
				case l.conns <- c:
				case <-l.done:
					c.Close()
					return
				}
			}
		}()
	}
	return l
}

type twoListener struct {
	net.Listener // the first; its address is the listener's
	b            net.Listener
	conns        chan net.Conn
	done         chan struct{}
	once         sync.Once
}

func (l *twoListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *twoListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return errors.Join(l.Listener.Close(), l.b.Close())
}

func (s *testServer) user(t *testing.T, name string) (*chattest.Client, string) {
	t.Helper()
	tok := chattest.Login(t, s.URL, name, pw)
	return chattest.Dial(t, s.URL, tok), tok
}

// dialWS opens a WebSocket with d to the server at base (http:// or
// https://) as the holder of tok, and closes it when the test ends.
func dialWS(t *testing.T, d *websocket.Dialer, base, tok string) *websocket.Conn {
	t.Helper()
	ws, resp, err := d.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", http.Header{"Authorization": {"Bearer " + tok}})
	if resp != nil {
		resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("dial %s: %v", base, err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// upgradeStatus asks the server at base for a WebSocket with token and
// header, and returns the HTTP status of the answer, closing what it opened.
func upgradeStatus(t *testing.T, base, token string, header http.Header) int {
	t.Helper()
	c, resp, err := chattest.DialErr(base, token, header)
	if c != nil {
		c.Close()
	}
	if resp == nil {
		t.Fatalf("no response: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// statusOf sends req and returns the status of the answer.
func statusOf(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// decode unmarshals the JSON in b into v, failing the test if it is none.
func decode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %.200s", err, b)
	}
}

// sendFrame writes text to c as one frame.
func sendFrame(t *testing.T, c *chattest.Client, text string) {
	t.Helper()
	if err := c.Send(text); err != nil {
		t.Fatal(err)
	}
}

// closeCode is the code of the close frame that ended a connection with err,
// or 0 if none did.
func closeCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

func TestSessions(t *testing.T) {
	s := newServer(t)
	tests := map[string]struct {
		user, pass string
		want       int
	}{
		"UnknownNameRegisters":            {"Alice", pw, 200},
		"KnownNameWithItsPasswordSignsIn": {"alice", pw, 200},
		"WrongPasswordIsUnauthorized":     {"alice", "password2", 401},
		"InvalidNameIsBadRequest":         {"al_ice", pw, 400},
		"EmptyNameIsBadRequest":           {"", pw, 400},
		"ShortPasswordIsBadRequest":       {"bob", "short", 400},
		"AdminNameCannotBeClaimed":        {"admin", pw, 401},
		"AdminSignsInWithConfiguredPass":  {"admin", "adminpass1", 200},
	}
	for _, name := range []string{"UnknownNameRegisters", "KnownNameWithItsPasswordSignsIn", "WrongPasswordIsUnauthorized",
		"InvalidNameIsBadRequest", "EmptyNameIsBadRequest", "ShortPasswordIsBadRequest", "AdminNameCannotBeClaimed", "AdminSignsInWithConfiguredPass"} {
		tt := tests[name]
		t.Run(name, func(t *testing.T) {
			status, body := chattest.Do(t, "POST", s.URL+"/api/session", "", map[string]string{"username": tt.user, "password": tt.pass})
			if status != tt.want {
				t.Fatalf("status %d, want %d: %s", status, tt.want, body)
			}
			if status != 200 {
				var e struct{ Error wireError }
				if json.Unmarshal(body, &e) != nil || e.Error.Code == "" || e.Error.Message == "" {
					t.Fatalf("error body %s", body)
				}
			}
		})
	}

	t.Run("TokenWorksAsBearerAndCookieUntilDeleted", func(t *testing.T) {
		resp, err := http.Post(s.URL+"/api/session", "application/json", strings.NewReader(`{"username":"carol","password":"chat-secret-1"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var cookie *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "chat_session" {
				cookie = c
			}
		}
		if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
			t.Fatalf("cookie %+v", cookie)
		}
		req, _ := http.NewRequest("GET", s.URL+"/api/me", nil)
		req.AddCookie(cookie)
		if st := statusOf(t, req); st != 200 {
			t.Fatalf("me with cookie: %d", st)
		}
		if st, body := chattest.Do(t, "GET", s.URL+"/api/me", cookie.Value, nil); st != 200 || !strings.Contains(string(body), `"id":"carol"`) {
			t.Fatalf("me with bearer: %d %s", st, body)
		}
		ws := chattest.Dial(t, s.URL, cookie.Value)
		if st, _ := chattest.Do(t, "DELETE", s.URL+"/api/session", cookie.Value, nil); st != 200 {
			t.Fatalf("delete: %d", st)
		}
		if st, _ := chattest.Do(t, "GET", s.URL+"/api/me", cookie.Value, nil); st != 401 {
			t.Fatalf("me after delete: %d", st)
		}
		if code := ws.WaitClosed(); code != websocket.ClosePolicyViolation {
			t.Fatalf("the session's WebSocket closed with %d, want 1008", code)
		}
		if st := upgradeStatus(t, s.URL, cookie.Value, nil); st != 401 {
			t.Fatalf("upgrade after delete: %d", st)
		}
	})

	t.Run("EveryCallNeedsASession", func(t *testing.T) {
		for _, p := range []string{"/api/me", "/api/users", "/api/rooms", "/api/rooms/general/messages", "/api/activity", "/api/activity/stats"} {
			if st, _ := chattest.Do(t, "GET", s.URL+p, "", nil); st != 401 {
				t.Errorf("%s: %d", p, st)
			}
			if st, _ := chattest.Do(t, "GET", s.URL+p, "not-a-token", nil); st != 401 {
				t.Errorf("%s with a bad token: %d", p, st)
			}
		}
	})
}

type wireError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func TestUpgradeChecks(t *testing.T) {
	s := newServer(t, "CHAT_ALLOWED_ORIGINS", "https://chat.example.com")
	tok := chattest.Login(t, s.URL, "alice", pw)
	host := strings.TrimPrefix(s.URL, "http://")
	tests := map[string]struct {
		token, origin string
		want          int
	}{
		"NoTokenIsUnauthorized":    {"", "", 401},
		"BadTokenIsUnauthorized":   {"nope", "", 401},
		"ForeignOriginIsForbidden": {tok, "https://evil.example.com", 403},
		"SameHostOriginIsAllowed":  {tok, "http://" + host, 101},
		"AllowedOriginIsAllowed":   {tok, "https://chat.example.com", 101},
		"NoOriginIsAllowed":        {tok, "", 101},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			if st := upgradeStatus(t, s.URL, tt.token, h); st != tt.want {
				t.Fatalf("status %d, want %d", st, tt.want)
			}
		})
	}
}

func TestHelloIsTheFirstFrame(t *testing.T) {
	s := newServer(t)
	tok := chattest.Login(t, s.URL, "Alice", pw)
	ws := dialWS(t, websocket.DefaultDialer, s.URL, tok)
	_, b, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	first := strings.SplitN(string(b), "\n", 2)[0]
	if first != `{"type":"hello","protocol":2,"user":{"id":"alice"}}` {
		t.Fatalf("first object %s", first)
	}
}

type page struct {
	Room     string             `json:"room"`
	Messages []chattest.Message `json:"messages"`
	HasMore  bool               `json:"has_more"`
}

func send(c *chattest.Client, room, text, cid string) chattest.Message {
	var r struct{ Message chattest.Message }
	c.OK(map[string]any{"type": "send", "room": room, "text": text, "cid": cid}, &r)
	return r.Message
}

func TestRoomChat(t *testing.T) {
	s := newServer(t)
	alice, _ := s.user(t, "alice")
	bob, bobTok := s.user(t, "bob")
	var jp page
	alice.OK(map[string]any{"type": "join", "room": "general"}, &jp)
	if jp.Room != "general" || len(jp.Messages) != 0 || jp.HasMore || jp.Messages == nil {
		t.Fatalf("join of a new room: %+v", jp)
	}
	bob.OK(map[string]any{"type": "join", "room": "general"}, nil)

	m := send(alice, "general", "  hello <b>bob</b>  ", "c1")
	if m.Seq != 1 || m.From != "alice" || m.Text != "hello <b>bob</b>" || m.CID != "c1" || m.ID == "" {
		t.Fatalf("stored %+v", m)
	}
	if m.TS.IsZero() || m.TS.Location() != time.UTC || m.TS.Nanosecond()%int(time.Millisecond) != 0 {
		t.Fatalf("ts %v", m.TS)
	}
	for _, c := range []*chattest.Client{alice, bob} {
		got := c.Messages("general", 1)[0]
		if !got.TS.Equal(m.TS) || got.ID != m.ID || got.Seq != m.Seq || got.Text != m.Text {
			t.Fatalf("event %+v, want %+v", got, m)
		}
	}

	t.Run("RepeatedCIDReturnsTheOriginalAndStoresNothing", func(t *testing.T) {
		again := send(alice, "general", "different text", "c1")
		if again.ID != m.ID || again.Seq != m.Seq || again.Text != m.Text {
			t.Fatalf("repeat gave %+v, want %+v", again, m)
		}
		m2 := send(alice, "general", "second", "c2")
		if m2.Seq != 2 {
			t.Fatalf("next seq %d", m2.Seq)
		}
		if got := bob.Messages("general", 1)[0]; got.Seq != 2 {
			t.Fatalf("bob got seq %d after the repeat, want 2 (no duplicate)", got.Seq)
		}
	})

	t.Run("RoomsListsIt", func(t *testing.T) {
		_, body := chattest.Do(t, "GET", s.URL+"/api/rooms", bobTok, nil)
		var v struct {
			Rooms []struct {
				ID, Kind string
				LastSeq  int64 `json:"last_seq"`
			}
		}
		decode(t, body, &v)
		if len(v.Rooms) != 1 || v.Rooms[0].ID != "general" || v.Rooms[0].Kind != "public" || v.Rooms[0].LastSeq != 2 {
			t.Fatalf("rooms %s", body)
		}
	})

	t.Run("LeaveStopsEvents", func(t *testing.T) {
		bob.OK(map[string]any{"type": "leave", "room": "general"}, nil)
		send(alice, "general", "after leave", "c3")
		alice.Messages("general", 2)
		if !bob.Quiet(200*time.Millisecond, chattest.IsMessage("general")) {
			t.Fatal("bob got a message after leaving")
		}
	})
}

func TestJoinAndHistoryPages(t *testing.T) {
	s := newServer(t)
	alice, tok := s.user(t, "alice")
	for i := 1; i <= 120; i++ {
		send(alice, "big", fmt.Sprint("m", i), fmt.Sprint("c", i))
	}
	seqs := func(p page) (first, last int64, n int) {
		if len(p.Messages) == 0 {
			return 0, 0, 0
		}
		return p.Messages[0].Seq, p.Messages[len(p.Messages)-1].Seq, len(p.Messages)
	}
	tests := map[string]struct {
		cmd         map[string]any
		first, last int64
		n           int
		hasMore     bool
	}{
		"JoinGivesTheLast50":           {map[string]any{"type": "join", "room": "big"}, 71, 120, 50, true},
		"JoinSinceGivesWhatFollows":    {map[string]any{"type": "join", "room": "big", "since": 100}, 101, 120, 20, false},
		"JoinSinceTheEndGivesNothing":  {map[string]any{"type": "join", "room": "big", "since": 120}, 0, 0, 0, false},
		"HistoryDefaultsToTheNewest50": {map[string]any{"type": "history", "room": "big"}, 71, 120, 50, true},
		"HistoryBeforeWithLimit":       {map[string]any{"type": "history", "room": "big", "before": 30, "limit": 10}, 20, 29, 10, true},
		"HistoryReachingTheStart":      {map[string]any{"type": "history", "room": "big", "before": 6, "limit": 10}, 1, 5, 5, false},
		"HistoryOfAnEmptyRoom":         {map[string]any{"type": "history", "room": "empty"}, 0, 0, 0, false},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var p page
			alice.OK(tt.cmd, &p)
			f, l, n := seqs(p)
			if f != tt.first || l != tt.last || n != tt.n || p.HasMore != tt.hasMore {
				t.Fatalf("got %d..%d (%d) has_more=%v, want %d..%d (%d) has_more=%v", f, l, n, p.HasMore, tt.first, tt.last, tt.n, tt.hasMore)
			}
		})
	}
	t.Run("RESTHistoryMatchesTheCommand", func(t *testing.T) {
		st, body := chattest.Do(t, "GET", s.URL+"/api/rooms/big/messages?before=30&limit=10", tok, nil)
		var p page
		decode(t, body, &p)
		if f, l, _ := seqs(p); st != 200 || f != 20 || l != 29 || !p.HasMore || p.Room != "big" {
			t.Fatalf("%d %s", st, body)
		}
		for _, q := range []string{"limit=0", "limit=101", "limit=x", "before=-1"} {
			if st, _ := chattest.Do(t, "GET", s.URL+"/api/rooms/big/messages?"+q, tok, nil); st != 400 {
				t.Errorf("%s: %d", q, st)
			}
		}
		if st, _ := chattest.Do(t, "GET", s.URL+"/api/rooms/Bad_Room/messages", tok, nil); st != 400 {
			t.Errorf("bad room: %d", st)
		}
	})
}

func TestDirectMessages(t *testing.T) {
	s := newServer(t)
	alice, aliceTok := s.user(t, "alice")
	bob1, bobTok := s.user(t, "bob")
	bob2 := chattest.Dial(t, s.URL, bobTok)
	carol, carolTok := s.user(t, "carol")
	const dm = "dm:alice_bob"

	m := send(alice, dm, "psst", "d1")
	for name, c := range map[string]*chattest.Client{"alice": alice, "bob1": bob1, "bob2": bob2} {
		got, err := c.NextErr(chattest.IsMessage(dm))
		if err != nil || got.Message.ID != m.ID || got.Message.Seq != m.Seq {
			t.Fatalf("%s: %v %+v", name, err, got.Message)
		}
	}
	t.Run("AThirdUserIsForbiddenAndLearnsNothing", func(t *testing.T) {
		for _, cmd := range []map[string]any{
			{"type": "join", "room": dm},
			{"type": "send", "room": dm, "text": "hi", "cid": "x"},
			{"type": "history", "room": dm},
			{"type": "typing", "room": dm, "active": true},
		} {
			f := carol.Command(cmd)
			if f.OK || f.Error.Code != "forbidden" || strings.Contains(f.Raw, "psst") {
				t.Errorf("%v: %s", cmd["type"], f.Raw)
			}
		}
		if st, body := chattest.Do(t, "GET", s.URL+"/api/rooms/"+dm+"/messages", carolTok, nil); st != 403 || strings.Contains(string(body), "psst") {
			t.Errorf("REST history: %d %s", st, body)
		}
		_, body := chattest.Do(t, "GET", s.URL+"/api/rooms", carolTok, nil)
		if strings.Contains(string(body), dm) {
			t.Errorf("carol's rooms list the DM: %s", body)
		}
		if !carol.Quiet(200*time.Millisecond, chattest.IsMessage(dm)) {
			t.Error("carol received the DM")
		}
	})
	t.Run("BothMembersListIt", func(t *testing.T) {
		for _, tok := range []string{aliceTok, bobTok} {
			_, body := chattest.Do(t, "GET", s.URL+"/api/rooms", tok, nil)
			if !strings.Contains(string(body), `"id":"dm:alice_bob","kind":"dm","members":["alice","bob"],"last_seq":1`) {
				t.Errorf("rooms: %s", body)
			}
		}
	})
	t.Run("UnregisteredPeerIsNotFound", func(t *testing.T) {
		f := alice.Command(map[string]any{"type": "send", "room": "dm:alice_zed", "text": "hi", "cid": "z"})
		if f.OK || f.Error.Code != "not_found" {
			t.Fatal(f.Raw)
		}
	})
	t.Run("MalformedDMIdsAreBadRequests", func(t *testing.T) {
		for _, room := range []string{"dm:bob_alice", "dm:alice_alice", "dm:alice", "dm:alice_bob_carol", "dm:Alice_bob"} {
			f := alice.Command(map[string]any{"type": "send", "room": room, "text": "hi", "cid": "z"})
			if f.OK || f.Error.Code != "bad_request" {
				t.Errorf("%s: %s", room, f.Raw)
			}
		}
	})
}

func TestTyping(t *testing.T) {
	s := newServer(t)
	alice, _ := s.user(t, "alice")
	bob, _ := s.user(t, "bob")
	alice.OK(map[string]any{"type": "join", "room": "general"}, nil)
	bob.OK(map[string]any{"type": "join", "room": "general"}, nil)
	isTyping := func(room string) func(chattest.Frame) bool {
		return func(f chattest.Frame) bool { return f.Type == "typing" && f.Room == room }
	}
	alice.OK(map[string]any{"type": "typing", "room": "general", "active": true}, nil)
	f := bob.Next(isTyping("general"))
	if f.UserID() != "alice" || !f.Active {
		t.Fatal(f.Raw)
	}
	alice.OK(map[string]any{"type": "typing", "room": "general", "active": false}, nil)
	if f := bob.Next(isTyping("general")); f.Active {
		t.Fatal(f.Raw)
	}
	if !alice.Quiet(200*time.Millisecond, isTyping("general")) {
		t.Fatal("alice got her own typing event")
	}
	alice.OK(map[string]any{"type": "typing", "room": "dm:alice_bob", "active": true}, nil)
	if f := bob.Next(isTyping("dm:alice_bob")); f.UserID() != "alice" {
		t.Fatal(f.Raw)
	}
	if f := alice.Command(map[string]any{"type": "typing", "room": "general"}); f.OK || f.Error.Code != "bad_request" {
		t.Fatalf("typing without active: %s", f.Raw)
	}
}

func TestPresence(t *testing.T) {
	s := newServer(t)
	alice, aliceTok := s.user(t, "alice")
	bobTok := chattest.Login(t, s.URL, "bob", pw)
	bob1 := chattest.Dial(t, s.URL, bobTok)
	alice.Next(chattest.IsPresence("bob", "online"))
	bob2 := chattest.Dial(t, s.URL, bobTok)
	bob1.Close()
	if !alice.Quiet(300*time.Millisecond, chattest.IsPresence("bob", "offline")) {
		t.Fatal("bob reported offline while a connection is open")
	}
	bob2.Close()
	f := alice.Next(chattest.IsPresence("bob", "offline"))
	if _, err := time.Parse(time.RFC3339, f.LastSeen); err != nil {
		t.Fatalf("last_seen %q", f.LastSeen)
	}
	_, body := chattest.Do(t, "GET", s.URL+"/api/users", aliceTok, nil)
	var v struct {
		Users []struct {
			ID, Status string
			LastSeen   string `json:"last_seen"`
		}
	}
	decode(t, body, &v)
	if len(v.Users) != 3 || v.Users[0].ID != "admin" || v.Users[1].ID != "alice" || v.Users[1].Status != "online" ||
		v.Users[2].ID != "bob" || v.Users[2].Status != "offline" || v.Users[2].LastSeen == "" {
		t.Fatalf("users %s", body)
	}
}

func TestBadInputGetsTheContractsErrorAndTheConnectionCarriesOn(t *testing.T) {
	s := newServer(t)
	alice, _ := s.user(t, "alice")
	long := strings.Repeat("é", chatserver.MaxTextLen+1)
	tests := map[string]struct {
		frame string
		code  string
	}{
		"UnknownType":      {`{"type":"dance","id":1}`, "bad_request"},
		"InvalidRoom":      {`{"type":"join","id":2,"room":"Not Valid"}`, "bad_request"},
		"EmptyRoom":        {`{"type":"send","id":3,"room":"","text":"x","cid":"c"}`, "bad_request"},
		"EmptyText":        {`{"type":"send","id":4,"room":"general","text":"   ","cid":"c"}`, "bad_request"},
		"TextTooLong":      {`{"type":"send","id":5,"room":"general","text":"` + long + `","cid":"c"}`, "too_large"},
		"MissingCID":       {`{"type":"send","id":6,"room":"general","text":"x"}`, "bad_request"},
		"CIDTooLong":       {`{"type":"send","id":7,"room":"general","text":"x","cid":"` + strings.Repeat("c", 65) + `"}`, "bad_request"},
		"NegativeSince":    {`{"type":"join","id":8,"room":"general","since":-1}`, "bad_request"},
		"LimitOutOfRange":  {`{"type":"history","id":9,"room":"general","limit":500}`, "bad_request"},
		"BeforeNotANumber": {`{"type":"history","id":10,"room":"general","before":"x"}`, "bad_request"},
		"TextNotAString":   {`{"type":"send","id":11,"room":"general","text":1,"cid":"c"}`, "bad_request"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			sendFrame(t, alice, tt.frame)
			f := alice.Next(func(f chattest.Frame) bool { return f.Type == "reply" || f.Type == "error" })
			if f.OK || f.Error == nil || f.Error.Code != tt.code {
				t.Fatalf("got %s, want %s", f.Raw, tt.code)
			}
		})
	}
	t.Run("MalformedJSONGetsAnErrorEvent", func(t *testing.T) {
		sendFrame(t, alice, `{"type":`)
		f := alice.Next(func(f chattest.Frame) bool { return f.Type == "error" })
		if f.Error.Code != "bad_request" {
			t.Fatal(f.Raw)
		}
	})
	t.Run("SeveralCommandsInOneFrame", func(t *testing.T) {
		sendFrame(t, alice, `{"type":"join","id":100,"room":"multi"}`+"\n"+`{"type":"send","id":101,"room":"multi","text":"a","cid":"m1"}`)
		alice.Next(chattest.IsMessage("multi"))
	})
	t.Run("StillWorks", func(t *testing.T) {
		send(alice, "general", "still here", "ok1")
	})
}

func TestFrameOver16KiBClosesWith1009AndOthersCarryOn(t *testing.T) {
	s := newServer(t)
	alice, _ := s.user(t, "alice")
	bob, _ := s.user(t, "bob")
	sendFrame(t, alice, `{"type":"send","id":1,"room":"general","text":"`+strings.Repeat("a", 17<<10)+`","cid":"x"}`)
	if code := alice.WaitClosed(); code != websocket.CloseMessageTooBig {
		t.Fatalf("close code %d", code)
	}
	send(bob, "general", "fine", "b1")
}

func TestRateLimitAnswersRateLimited(t *testing.T) {
	s := newServer(t, "CHAT_RATE_LIMIT", "1", "CHAT_RATE_BURST", "3")
	alice, _ := s.user(t, "alice")
	var limited bool
	for i := range 10 {
		f := alice.Command(map[string]any{"type": "history", "room": "general", "i": i})
		if !f.OK && f.Error.Code == "rate_limited" {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("10 commands at once were never rate limited")
	}
}

func TestSlowConsumerIsClosedWith1008(t *testing.T) {
	s := newServerWith(t, serverOpts{env: []string{"CHAT_SEND_QUEUE", fmt.Sprint(64 << 10)},
		opts: app.Options{Transport: func(c *httpapi.Config) { c.WriteTimeout = time.Minute }}})
	alice, _ := s.user(t, "alice")
	// A raw connection with a fixed socket buffer (not autotuned, but above the
	// loopback MSS so that its window reopens) that joins and stops reading.
	raw := dialSmallBuffer(t, s, "slow", 256<<10)
	joinRaw(t, raw, "flood")
	slowCloses := func() float64 {
		mfs, _ := s.Gatherer().Gather()
		for _, mf := range mfs {
			if mf.GetName() == "chat_connection_closes_total" {
				for _, m := range mf.GetMetric() {
					if m.GetLabel()[0].GetValue() == "1008" {
						return m.GetCounter().GetValue()
					}
				}
			}
		}
		return 0
	}
	text := strings.Repeat("x", 3900)
	for i := 0; slowCloses() == 0; i++ {
		if i == 10000 {
			t.Fatal("a connection that never reads was never closed")
		}
		if f := alice.Command(map[string]any{"type": "send", "room": "flood", "text": text, "cid": fmt.Sprint(i)}); !f.OK {
			t.Fatal(f.Raw)
		}
	}
	t.Logf("closed after sends; reading")
	// Reading now, the client gets what was on the wire, then the close.
	if err := raw.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	nread := 0
	for {
		_, b, err := raw.ReadMessage()
		if err == nil {
			nread += len(b)
			continue
		}
		t.Logf("read %d bytes before %v", nread, err)
		if closeCode(err) != websocket.ClosePolicyViolation {
			t.Fatalf("connection ended with %v, want close 1008", err)
		}
		break
	}
	send(alice, "flood", "the server carries on", "after")
}

func TestConcurrentSendersGiveEverySubscriberAGapFreeOrderedStream(t *testing.T) {
	s := newServer(t)
	const senders, perSender, subs = 4, 150, 3
	var subsC []*chattest.Client
	for i := range subs {
		c, _ := s.user(t, fmt.Sprint("sub", i))
		c.OK(map[string]any{"type": "join", "room": "race"}, nil)
		subsC = append(subsC, c)
	}
	var wg sync.WaitGroup
	for i := range senders {
		c, _ := s.user(t, fmt.Sprint("pub", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perSender {
				f, err := c.CommandErr(map[string]any{"type": "send", "room": "race", "text": "x", "cid": fmt.Sprint(j)})
				if err != nil || !f.OK {
					t.Errorf("send: %v %s", err, f.Raw)
					return
				}
			}
		}()
	}
	wg.Wait()
	for i, c := range subsC {
		msgs := c.Messages("race", senders*perSender)
		for j, m := range msgs {
			if m.Seq != int64(j+1) {
				t.Fatalf("subscriber %d: message %d has seq %d", i, j, m.Seq)
			}
		}
		if !c.Quiet(100*time.Millisecond, chattest.IsMessage("race")) {
			t.Fatalf("subscriber %d got a duplicate", i)
		}
	}
}

func TestActivityLogIsForAdmins(t *testing.T) {
	s := newServer(t)
	alice, aliceTok := s.user(t, "alice")
	alice.OK(map[string]any{"type": "join", "room": "general"}, nil)
	m := send(alice, "general", "hello", "a1")
	alice.OK(map[string]any{"type": "leave", "room": "general"}, nil)
	adminTok := chattest.Login(t, s.URL, "admin", "adminpass1")

	if st, _ := chattest.Do(t, "GET", s.URL+"/api/activity", aliceTok, nil); st != 403 {
		t.Fatalf("non-admin search: %d", st)
	}
	if st, _ := chattest.Do(t, "GET", s.URL+"/api/activity/stats", aliceTok, nil); st != 403 {
		t.Fatalf("non-admin stats: %d", st)
	}
	type event struct {
		ID, Type, TS, User, Room string
		MessageID                string `json:"message_id"`
	}
	var res struct {
		Total  int64
		Events []event
	}
	st, body := chattest.Do(t, "GET", s.URL+"/api/activity?user=alice&size=100", adminTok, nil)
	decode(t, body, &res)
	types := map[string]int{}
	for _, e := range res.Events {
		types[e.Type]++
		if e.Type == "message.sent" && (e.MessageID != m.ID || e.Room != "general") {
			t.Errorf("message event %+v", e)
		}
	}
	for _, typ := range []string{"session.login", "ws.connect", "room.join", "message.sent", "room.leave"} {
		if types[typ] != 1 {
			t.Errorf("%d %s events: %s", types[typ], typ, body)
		}
	}
	if st != 200 || res.Total != int64(len(res.Events)) {
		t.Fatalf("%d total %d: %s", st, res.Total, body)
	}
	for i := 1; i < len(res.Events); i++ {
		if res.Events[i].TS > res.Events[i-1].TS {
			t.Fatal("events not newest first")
		}
	}
	var stats struct {
		Buckets []struct {
			TS          string
			CountByType map[string]int64 `json:"count_by_type"`
		}
		TopRooms []struct {
			Room  string
			Count int64
		} `json:"top_rooms"`
		ActiveUsers int64 `json:"active_users"`
	}
	st, body = chattest.Do(t, "GET", s.URL+"/api/activity/stats?interval=10m", adminTok, nil)
	decode(t, body, &stats)
	var sent int64
	for _, b := range stats.Buckets {
		sent += b.CountByType["message.sent"]
	}
	if st != 200 || len(stats.Buckets) < 6 || sent != 1 || len(stats.TopRooms) != 1 || stats.TopRooms[0].Room != "general" || stats.ActiveUsers < 2 {
		t.Fatalf("%d %s", st, body)
	}
	for _, q := range []string{"interval=x", "interval=1ms", "from=yesterday", "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z"} {
		if st, _ := chattest.Do(t, "GET", s.URL+"/api/activity/stats?"+q, adminTok, nil); st != 400 {
			t.Errorf("stats %s: %d", q, st)
		}
	}
	if st, _ := chattest.Do(t, "GET", s.URL+"/api/activity?size=0", adminTok, nil); st != 400 {
		t.Errorf("size=0: %d", st)
	}
}

func TestProbes(t *testing.T) {
	s := newServer(t)
	for path, want := range map[string]string{"/healthz": `"ok"`, "/readyz": `"sqlite":"ok"`, "/metrics": "chat_connections"} {
		st, body := chattest.Do(t, "GET", s.URL+path, "", nil)
		if st != 200 || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d %.200s", path, st, body)
		}
	}
	if st, body := chattest.Do(t, "GET", s.URL+"/api/nope", "", nil); st != 404 || !strings.Contains(string(body), "not_found") {
		t.Errorf("unknown call: %d %s", st, body)
	}
}

func TestShutdownClosesConnectionsWith1001(t *testing.T) {
	s := newServer(t)
	alice, _ := s.user(t, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.API().Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if code := alice.WaitClosed(); code != websocket.CloseGoingAway {
		t.Fatalf("close code %d", code)
	}
}

func TestJoinSincePastTheEndHidesNothing(t *testing.T) {
	s := newServer(t)
	alice, _ := s.user(t, "alice")
	bob, _ := s.user(t, "bob")
	var p page
	alice.OK(map[string]any{"type": "join", "room": "fresh", "since": 1000}, &p)
	if len(p.Messages) != 0 || p.HasMore {
		t.Fatalf("%+v", p)
	}
	bob.OK(map[string]any{"type": "join", "room": "fresh"}, nil)
	m1 := send(bob, "fresh", "one", "1")
	m2 := send(bob, "fresh", "two", "2")
	for _, c := range []*chattest.Client{alice, bob} {
		got := c.Messages("fresh", 2)
		if got[0].Seq != m1.Seq || got[1].Seq != m2.Seq {
			t.Fatalf("got %+v", got)
		}
	}
}

func TestALargeJoinReplyIsDelivered(t *testing.T) {
	s := newServer(t, "CHAT_SEND_QUEUE", fmt.Sprint(64<<10))
	alice, _ := s.user(t, "alice")
	text := strings.Repeat("é", chatserver.MaxTextLen) // 8000 bytes
	for i := range 30 {
		send(alice, "big", text, fmt.Sprint(i))
	}
	bob, _ := s.user(t, "bob")
	var p page
	bob.OK(map[string]any{"type": "join", "room": "big", "since": 0}, &p)
	if len(p.Messages) != 30 {
		t.Fatalf("%d messages", len(p.Messages))
	}
}

func TestPipelinedSendsAreStoredInTheOrderSent(t *testing.T) {
	s := newServer(t)
	alice, _ := s.user(t, "alice")
	var frame []string
	for i := 1; i <= 40; i++ {
		frame = append(frame, fmt.Sprintf(`{"type":"send","id":%d,"room":"order","text":"m%d","cid":"c%d"}`, 1000+i, i, i))
	}
	sendFrame(t, alice, strings.Join(frame, "\n"))
	seqByID := map[int64]int64{}
	for len(seqByID) < 40 {
		f := alice.Next(func(f chattest.Frame) bool { return f.Type == "reply" })
		if !f.OK {
			t.Fatal(f.Raw)
		}
		var r struct{ Message chattest.Message }
		decode(t, f.Data, &r)
		seqByID[f.Re] = r.Message.Seq
	}
	for i := int64(1); i <= 40; i++ {
		if seqByID[1000+i] != i {
			t.Fatalf("send %d stored as seq %d", i, seqByID[1000+i])
		}
	}
}

func TestAuditedEdges(t *testing.T) {
	s := newServer(t)
	alice, aliceTok := s.user(t, "alice")
	t.Run("AFieldOfTheWrongTypeIsRepliedToByID", func(t *testing.T) {
		sendFrame(t, alice, `{"type":"send","id":77,"room":"general","text":5,"cid":"x"}`)
		f := alice.Next(func(f chattest.Frame) bool { return f.Type == "reply" && f.Re == 77 })
		if f.OK || f.Error.Code != "bad_request" {
			t.Fatal(f.Raw)
		}
	})
	t.Run("HistoryBeforeOneIsEmpty", func(t *testing.T) {
		send(alice, "general", "x", "x1")
		var p page
		alice.OK(map[string]any{"type": "history", "room": "general", "before": 1}, &p)
		if len(p.Messages) != 0 || p.HasMore {
			t.Fatalf("%+v", p)
		}
		st, body := chattest.Do(t, "GET", s.URL+"/api/rooms/general/messages?before=0", aliceTok, nil)
		if st != 200 || !strings.Contains(string(body), `"messages":[]`) {
			t.Fatalf("%d %s", st, body)
		}
	})
	t.Run("AWrongShortPasswordOfAKnownUserIsUnauthorized", func(t *testing.T) {
		if st, _ := chattest.Do(t, "POST", s.URL+"/api/session", "", map[string]string{"username": "alice", "password": "short"}); st != 401 {
			t.Fatalf("status %d", st)
		}
	})
	t.Run("NonAdminsAreForbiddenWhateverTheirParameters", func(t *testing.T) {
		for _, q := range []string{"/api/activity?size=0", "/api/activity/stats?interval=x"} {
			if st, _ := chattest.Do(t, "GET", s.URL+q, aliceTok, nil); st != 403 {
				t.Errorf("%s: %d", q, st)
			}
		}
	})
	t.Run("BearerIsCaseInsensitiveAndOtherSchemesFallBackToTheCookie", func(t *testing.T) {
		req, _ := http.NewRequest("GET", s.URL+"/api/me", nil)
		req.Header.Set("Authorization", "bearer "+aliceTok)
		if st := statusOf(t, req); st != 200 {
			t.Fatalf("lower-case bearer: %d", st)
		}
		req, _ = http.NewRequest("GET", s.URL+"/api/me", nil)
		req.Header.Set("Authorization", "Basic Zm9vOmJhcg==")
		req.AddCookie(&http.Cookie{Name: "chat_session", Value: aliceTok})
		if st := statusOf(t, req); st != 200 {
			t.Fatalf("basic plus cookie: %d", st)
		}
	})
	t.Run("UnknownTypesShareOneMetricLabel", func(t *testing.T) {
		for i := range 3 {
			sendFrame(t, alice, fmt.Sprintf(`{"type":"junk%d","id":%d}`, i, 500+i))
		}
		alice.Next(func(f chattest.Frame) bool { return f.Re == 502 })
		_, body := chattest.Do(t, "GET", s.URL+"/metrics", "", nil)
		if strings.Contains(string(body), "junk") {
			t.Fatal("client-chosen types became metric labels")
		}
	})
}

// dialSmallBuffer opens a raw WebSocket whose socket receive buffer is fixed
// (not autotuned) at size, so that the server's writes fill it soon.
func dialSmallBuffer(t *testing.T, s *testServer, name string, size int) *websocket.Conn {
	t.Helper()
	tok := chattest.Login(t, s.URL, name, pw)
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if err := c.(*net.TCPConn).SetReadBuffer(size); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}}
	return dialWS(t, &d, s.URL, tok)
}

// joinRaw joins room on a raw connection and waits for the reply.
func joinRaw(t *testing.T, raw *websocket.Conn, room string) {
	t.Helper()
	if err := raw.WriteMessage(websocket.TextMessage, []byte(`{"type":"join","id":1,"room":"`+room+`"}`)); err != nil {
		t.Fatal(err)
	}
	for {
		_, b, err := raw.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), `"re":1`) {
			return
		}
	}
}

// readMessages reads a raw connection's message events until it has seen
// seqs 1 to n, each once and in order, and gives each to check.
func readMessages(t *testing.T, ws *websocket.Conn, n int64, check func(chattest.Message)) {
	t.Helper()
	if err := ws.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for next := int64(1); next <= n; {
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("after seq %d: %v", next-1, err)
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			var ev struct {
				Type    string           `json:"type"`
				Message chattest.Message `json:"message"`
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("bad object %.80q: %v", line, err)
			}
			if ev.Type != "message" {
				continue
			}
			if ev.Message.Seq != next {
				t.Fatalf("seq %d, want %d", ev.Message.Seq, next)
			}
			check(ev.Message)
			next++
		}
	}
}

// A client that stops reading for a while, but not long enough to overflow
// its queue, then reads on gets every message, whole and in order: the
// server finished the writes its socket could not take at once, and the
// connection went back to the shared writers.
func TestAPausedReaderGetsEveryMessageInOrder(t *testing.T) {
	s := newServer(t, "CHAT_SEND_QUEUE", fmt.Sprint(16<<20))
	alice, _ := s.user(t, "alice")
	raw := dialSmallBuffer(t, s, "paused", 64<<10)
	joinRaw(t, raw, "pause")
	const n = 3000 // about 12 MB: more than the socket buffers hold
	text := strings.Repeat("y", 3900)
	blocked := httpapi.BlockedWrites()
	for i := range n {
		sendFrame(t, alice, fmt.Sprintf(`{"type":"send","room":"pause","text":"%d %s","cid":"%d"}`, i, text, i))
	}
	send(alice, "pause", "sync", "sync") // every send before it is stored
	time.Sleep(200 * time.Millisecond)   // the server is blocked on the socket
	if httpapi.BlockedWrites() == blocked {
		t.Fatal("the socket never filled: the test proves nothing")
	}
	// Once every message is in, the connection is back on the pool: this
	// one must arrive after them.
	send(alice, "pause", "last", "last")
	readMessages(t, raw, n+2, func(chattest.Message) {})
}

// A client that sends an oversized frame while the server is part-way
// through writing to it (its socket is full) gets whole frames, then the
// close 1009, then nothing: gorilla/websocket's close frame waits its turn
// in the connection's queue rather than landing between the server's writes.
func TestAProtocolErrorCloseEndsTheStreamWhole(t *testing.T) {
	s := newServer(t, "CHAT_SEND_QUEUE", fmt.Sprint(16<<20))
	alice, _ := s.user(t, "alice")
	conn, br := dialRawWS(t, s, "closer")
	if err := conn.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(maskedFrame(0x81, `{"type":"join","id":1,"room":"toobig"}`)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // joined before the messages
	blocked := httpapi.BlockedWrites()
	text := strings.Repeat("y", 3900)
	for i := range 3000 { // about 12 MB: more than the socket buffers hold
		sendFrame(t, alice, fmt.Sprintf(`{"type":"send","room":"toobig","text":"%d %s","cid":"%d"}`, i, text, i))
	}
	send(alice, "toobig", "sync", "sync")
	time.Sleep(200 * time.Millisecond)
	if httpapi.BlockedWrites() == blocked {
		t.Fatal("the socket never filled: the test proves nothing")
	}
	if _, err := conn.Write(maskedFrame(0x81, strings.Repeat("x", chatserver.MaxFrameBytes+1))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the server has read the frame's header
	code, seqs := readToClose(t, conn, br)
	if code != websocket.CloseMessageTooBig || seqs == 0 {
		t.Fatalf("close %d after %d messages, want 1009 after some", code, seqs)
	}
}

// Each kind of broken frame ends the connection with its close code, after
// which the server sends nothing, whether gorilla/websocket wrote that close
// frame (through the connection's queue) or the server did.
func TestBrokenFramesGetTheirCloseCode(t *testing.T) {
	s := newServer(t)
	huge := []byte{0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} // a length with the top bit set
	for _, tc := range []struct {
		name  string
		frame []byte
		code  int
	}{
		{"over 16 KiB", maskedFrame(0x81, strings.Repeat("x", chatserver.MaxFrameBytes+1)), websocket.CloseMessageTooBig},
		{"length past int64", huge, websocket.CloseMessageTooBig},
		{"reserved bit", maskedFrame(0x81|0x40, `{"type":"join","room":"general"}`), websocket.CloseProtocolError},
		{"unknown opcode", maskedFrame(0x83, "x"), websocket.CloseProtocolError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, br := dialRawWS(t, s, "broken")
			if _, err := conn.Write(tc.frame); err != nil {
				t.Fatal(err)
			}
			if code, _ := readToClose(t, conn, br); code != tc.code {
				t.Fatalf("close %d, want %d", code, tc.code)
			}
		})
	}
}

// dialRawWS signs name in and opens a WebSocket by hand on a plain TCP
// connection, so that a test decides every byte the client sends and sees
// every byte the server sends.
func dialRawWS(t *testing.T, s *testServer, name string) (net.Conn, *bufio.Reader) {
	t.Helper()
	tok := chattest.Login(t, s.URL, name, pw)
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/ws", nil)
	req.Header = http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}, "Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Authorization": {"Bearer " + tok}}
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	resp.Body.Close() // a 101 has none: the frames that follow stay in br
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %s", resp.Status)
	}
	return conn, br
}

// maskedFrame is one client frame with the given first byte (FIN, RSV bits,
// opcode) and a 64-bit length. Client frames must be masked; a zero key
// leaves the payload as it is.
func maskedFrame(first byte, payload string) []byte {
	b := []byte{first, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint64(b[2:], uint64(len(payload)))
	return append(append(b, 0, 0, 0, 0), payload...)
}

// readToClose reads what the server sends until it closes the connection,
// and checks that it is whole text frames of objects, with each message seq
// one more than the last, then a close frame, then nothing. It returns the
// close code and how many messages came before it.
func readToClose(t *testing.T, conn net.Conn, br *bufio.Reader) (code int, seqs int64) {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	stream, err := io.ReadAll(br) // until the server closes the socket
	if err != nil {
		t.Fatalf("after %d bytes: %v", len(stream), err)
	}
	for len(stream) > 0 {
		fin, op, payload, rest := httpapi.ReadFrame(t, stream)
		stream = rest
		if op == websocket.CloseMessage {
			if len(stream) > 0 {
				t.Fatalf("%d bytes after the close frame", len(stream))
			}
			return int(binary.BigEndian.Uint16(payload)), seqs
		}
		if !fin || op != websocket.TextMessage {
			t.Fatalf("after seq %d: frame fin %v opcode %d", seqs, fin, op)
		}
		for line := range strings.SplitSeq(string(payload), "\n") {
			var ev struct {
				Type    string           `json:"type"`
				Message chattest.Message `json:"message"`
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("after seq %d: bad object %.80q: %v", seqs, line, err)
			}
			if ev.Type == "message" {
				if ev.Message.Seq != seqs+1 {
					t.Fatalf("seq %d after %d", ev.Message.Seq, seqs)
				}
				seqs++
			}
		}
	}
	t.Fatalf("the stream ended after seq %d without a close frame", seqs)
	return 0, 0
}

// The server pings (and a client that answers stays connected past the pong
// timeout); a client's ping gets a pong; a client's close gets the same
// code back.
func TestPingPongAndClose(t *testing.T) {
	s := newServerWith(t, serverOpts{opts: app.Options{Transport: func(c *httpapi.Config) {
		c.PingInterval, c.PongTimeout = 50*time.Millisecond, 300*time.Millisecond
	}}})
	raw := dialSmallBuffer(t, s, "pinger", 64<<10)
	pings := make(chan struct{}, 100)
	pongs := make(chan string, 1)
	raw.SetPingHandler(func(data string) error {
		pings <- struct{}{}
		return raw.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	raw.SetPongHandler(func(data string) error { pongs <- data; return nil })
	readErr := make(chan error, 1)
	go func() {
		for {
			if _, _, err := raw.ReadMessage(); err != nil {
				readErr <- err
				return
			}
		}
	}()
	time.Sleep(time.Second) // over three pong timeouts
	if len(pings) < 5 {
		t.Fatalf("%d pings in a second at a 50 ms interval", len(pings))
	}
	if err := raw.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case data := <-pongs:
		if data != "hi" {
			t.Fatalf("pong %q", data)
		}
	case err := <-readErr:
		t.Fatalf("connection ended: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no pong")
	}
	if err := raw.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4000, "bye"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-readErr:
		if closeCode(err) != 4000 {
			t.Fatalf("connection ended with %v, want the close 4000 echoed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no close frame back")
	}
}

// With TLS terminated in process a connection is no socket the pool can
// write to without blocking: each connection writes on a goroutine of its
// own instead. The stream is the same: every message, whole and in order,
// large ones too.
func TestChatOverTLSInProcess(t *testing.T) {
	s := newServerWith(t, serverOpts{tls: true})
	blocked := httpapi.BlockedWrites()
	dial := func(name string) *websocket.Conn {
		t.Helper()
		b, _ := json.Marshal(map[string]string{"username": name, "password": pw})
		resp, err := s.Client.Post(s.URL+"/api/session", "application/json", strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct{ Token string }
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatalf("signing in as %s: %v", name, err)
		}
		d := websocket.Dialer{TLSClientConfig: s.Client.Transport.(*http.Transport).TLSClientConfig}
		return dialWS(t, &d, s.URL, v.Token)
	}
	alice, bob := dial("alice"), dial("bob")
	joinRaw(t, bob, "tls")
	const n = 200
	big := strings.Repeat("z", 3900) // a few messages per 16 KiB frame
	for i := range n {
		cmd, _ := json.Marshal(map[string]any{"type": "send", "room": "tls", "text": fmt.Sprintf("%d %s", i, big), "cid": fmt.Sprint(i)})
		if err := alice.WriteMessage(websocket.TextMessage, cmd); err != nil {
			t.Fatal(err)
		}
	}
	readMessages(t, bob, n, func(m chattest.Message) {
		if want := fmt.Sprintf("%d %s", m.Seq-1, big); m.Text != want {
			t.Fatalf("seq %d: text %.20q, want %.20q", m.Seq, m.Text, want)
		}
	})
	if httpapi.BlockedWrites() == blocked {
		t.Fatal("no write went through a connection's own goroutine")
	}
}
