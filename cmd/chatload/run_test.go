package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fakeServer speaks the part of the wire contract chatload uses: sign-in,
// hello, join, send and read, with message events fanned out to joined
// connections and coalesced into newline-separated frames, and the room
// list.
// fakeRooms is the state fake servers share, as instances share their
// backends: one seq per room, and every subscriber of every server.
type fakeRooms struct {
	mu    sync.Mutex
	seq   map[string]int64
	subs  map[string][]chan []byte
	msgs  map[string][]fakeMessage // each room's, by seq
	reads map[[2]string]int64      // the read position of a user (0) in a room (1)
}

type fakeMessage struct{ from, text string }

type fakeServer struct {
	*fakeRooms
	skip     int64 // when > 0, the message with this seq is stored but never delivered
	accept   int   // when > 0, WebSockets after the first accept are refused
	miscount int64 // added to every unread count of the room list
	sends    int   // guarded by mu
	conns    int   // WebSockets accepted, guarded by mu
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz":
	case "/api/session":
		var in struct{ Username string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, `{"token":"t-%s","user":{"id":%q}}`, in.Username, in.Username)
	case "/ws":
		user, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer t-")
		if !ok {
			http.Error(w, `{"error":{"code":"unauthorized"}}`, http.StatusUnauthorized)
			return
		}
		f.mu.Lock()
		refuse := f.accept > 0 && f.conns >= f.accept
		if !refuse {
			f.conns++
		}
		f.mu.Unlock()
		if refuse {
			http.Error(w, `{"error":{"code":"unavailable"}}`, http.StatusServiceUnavailable)
			return
		}
		c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		f.serveConn(c, user)
	case "/api/rooms":
		user, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer t-")
		if !ok {
			http.Error(w, `{"error":{"code":"unauthorized"}}`, http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"rooms": f.roomList(user)})
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeServer) serveConn(c *websocket.Conn, user string) {
	defer c.Close()
	out := make(chan []byte, 4096)
	done := make(chan struct{})
	defer close(done)
	go func() {
		var frame []byte
		for {
			select {
			case <-done:
				return
			case b := <-out:
				frame = append(frame[:0], b...)
				for more := true; more && len(frame) < 8<<10; {
					select {
					case b := <-out:
						frame = append(append(frame, '\n'), b...)
					default:
						more = false
					}
				}
				if c.WriteMessage(websocket.TextMessage, frame) != nil {
					return
				}
			}
		}
	}()
	out <- fmt.Appendf(nil, `{"type":"hello","protocol":1,"user":{"id":%q}}`, user)
	for {
		_, b, err := c.ReadMessage()
		if err != nil {
			return
		}
		var cmd struct {
			Type, Room, Text, CID string
			ID, Seq               int64
		}
		if json.Unmarshal(b, &cmd) != nil {
			return
		}
		switch cmd.Type {
		case "join":
			f.mu.Lock()
			f.subs[cmd.Room] = append(f.subs[cmd.Room], out)
			f.mu.Unlock()
			out <- fmt.Appendf(nil, `{"type":"reply","re":%d,"ok":true,"data":{"room":%q,"messages":[],"has_more":false}}`, cmd.ID, cmd.Room)
		case "send":
			f.mu.Lock()
			f.sends++
			f.seq[cmd.Room]++
			f.msgs[cmd.Room] = append(f.msgs[cmd.Room], fakeMessage{user, cmd.Text})
			msg, _ := json.Marshal(map[string]any{"id": fmt.Sprint(f.seq[cmd.Room]), "room": cmd.Room, "seq": f.seq[cmd.Room],
				"from": user, "text": cmd.Text, "ts": time.Now().UTC().Format(time.RFC3339), "cid": cmd.CID})
			if f.seq[cmd.Room] != f.skip {
				ev := fmt.Appendf(nil, `{"type":"message","message":%s}`, msg)
				for _, s := range f.subs[cmd.Room] {
					s <- ev
				}
			}
			f.mu.Unlock()
			out <- fmt.Appendf(nil, `{"type":"reply","re":%d,"ok":true,"data":{"message":%s}}`, cmd.ID, msg)
		case "read":
			f.mu.Lock()
			key := [2]string{user, cmd.Room}
			f.reads[key] = max(f.reads[key], cmd.Seq)
			pos := f.reads[key]
			f.mu.Unlock()
			out <- fmt.Appendf(nil, `{"type":"reply","re":%d,"ok":true,"data":{"room":%q,"read_seq":%d}}`, cmd.ID, cmd.Room, pos)
		}
	}
}

// roomList is the answer of GET /api/rooms for user, every room public.
func (f *fakeServer) roomList(user string) []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	var list []map[string]any
	for room, msgs := range f.msgs {
		read := f.reads[[2]string{user, room}]
		unread, mentions := f.miscount, int64(0)
		for _, m := range msgs[read:] {
			if m.from != user {
				unread++
				if slices.Contains(strings.Fields(m.text), "@"+user) {
					mentions++
				}
			}
		}
		list = append(list, map[string]any{"id": room, "kind": "public", "last_seq": len(msgs),
			"read_seq": read, "unread": unread, "mentions": mentions})
	}
	return list
}

func testConfig(servers string) config {
	return config{
		servers: servers, scenarios: "idle,max,paced,rooms", pids: []int{os.Getpid()},
		users: 3, userPrefix: "bench", password: "password", size: 40, window: 8, dialPar: 8,
		maxSubs: 6, maxPubs: 2, pacedSubs: 10, pacedPubs: 2, pacedRate: 100,
		duration: 300 * time.Millisecond, pacedDuration: 300 * time.Millisecond, warmup: 50 * time.Millisecond,
		drain: 2 * time.Second, idleConns: 20, wait: 5 * time.Second, quiet: true,
		roomsRooms: 12, roomsMessages: 10, roomsPubs: 3, roomsRequests: 5,
		targetDelivered: 1, targetP99: time.Second, targetIdleK: 1 << 20, targetRoomsP99: time.Second, epoll: true,
	}
}

func startFakes(t *testing.T, n int, skip int64) (servers string, fakes []*fakeServer) {
	var urls []string
	rooms := &fakeRooms{seq: map[string]int64{}, subs: map[string][]chan []byte{},
		msgs: map[string][]fakeMessage{}, reads: map[[2]string]int64{}}
	for range n {
		f := &fakeServer{fakeRooms: rooms, skip: skip}
		s := httptest.NewServer(f)
		t.Cleanup(s.Close)
		urls = append(urls, s.URL)
		fakes = append(fakes, f)
	}
	return strings.Join(urls, ","), fakes
}

func TestRunAgainstAFakeServer(t *testing.T) {
	servers, fakes := startFakes(t, 1, 0)
	var out bytes.Buffer
	code, err := run(context.Background(), testConfig(servers), &out)
	t.Log("\n" + out.String())
	if err != nil || code != 0 {
		t.Fatalf("run = %d, %v; want 0, nil", code, err)
	}
	for _, want := range []string{"max", "paced", "idle", "rooms", "met"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the table lacks %q", want)
		}
	}
	if paced := fakes[0].sends; paced < 10 {
		t.Errorf("the server took only %d sends", paced)
	}
}

func TestRunSpreadsOverServers(t *testing.T) {
	for _, epoll := range []bool{true, false} {
		t.Run(fmt.Sprintf("epoll=%v", epoll), func(t *testing.T) {
			servers, fakes := startFakes(t, 2, 0)
			cfg := testConfig(servers)
			cfg.scenarios = "paced"
			cfg.epoll = epoll
			var out bytes.Buffer
			if code, err := run(context.Background(), cfg, &out); err != nil || code != 0 {
				t.Fatalf("run = %d, %v; want 0, nil\n%s", code, err, out.String())
			}
			for i, f := range fakes {
				if f.sends == 0 {
					t.Errorf("server %d got no sends", i)
				}
			}
			if !strings.Contains(out.String(), "on different servers") {
				t.Errorf("no per-server latency line in\n%s", out.String())
			}
		})
	}
}

func TestRunFailsWhenAMessageIsNotDelivered(t *testing.T) {
	servers, _ := startFakes(t, 1, 3)
	cfg := testConfig(servers)
	cfg.scenarios = "paced"
	var out bytes.Buffer
	code, err := run(context.Background(), cfg, &out)
	if err != nil || code != 1 {
		t.Fatalf("run = %d, %v; want 1, nil\n%s", code, err, out.String())
	}
	if !strings.Contains(out.String(), "FAIL: subscribers saw 10 missing seqs") {
		t.Errorf("the report does not name the gaps:\n%s", out.String())
	}
}

func TestParseTargetsKeepsToLoopback(t *testing.T) {
	if _, err := parseTargets("http://127.0.0.1:1,http://localhost:2,http://[::1]:3", false); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"http://10.0.0.1:8080", "http://example.com", "ftp://127.0.0.1", ""} {
		if _, err := parseTargets(s, false); err == nil {
			t.Errorf("parseTargets(%q) accepted it", s)
		}
	}
}
