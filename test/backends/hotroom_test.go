package backends

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/chatserver/chattest"
)

// One busy room: senders spread over two processes on Redis and the MongoDB
// stand-in (or a real MongoDB) send to it as fast as they are answered, one
// send at a time each. Every send is answered ok, and a subscriber on each
// process receives every message, seq 1, 2, 3… in order. Each row's
// figures (sends per second, ack latency) are logged as a table, the first
// row's rate as the baseline: make bench-hotroom runs it on FerretDB over
// PostgreSQL with more senders and a longer time (docs/bench.md).
//
//	HOTROOM_SENDERS   senders of each row (default 1,2,8)
//	HOTROOM_DURATION  how long each row sends (default 2s)
//	HOTROOM_ROUNDS    how often the rows run, the servers taking turns (default 1)
//	HOTROOM_SERVERS   name=path,… chatserver binaries to compare, each on
//	                  backends of its own (default: the one built here)
func TestHotRoom_TwoProcesses_Redis_FerretDB_SendersInOneRoom(t *testing.T) {
	rows := hotroomSenders(t)
	duration := hotroomDuration(t)
	rounds := hotroomRounds(t)
	var servers []*hotroomServer
	for _, v := range hotroomBinaries(t) {
		servers = append(servers, startHotroomServer(t, v.name, v.path))
	}
	var results []hotroomRow
	for round := 1; round <= rounds; round++ {
		for _, s := range servers {
			for _, senders := range rows {
				r := s.run(t, fmt.Sprintf("hot-r%d-%d-%s", round, senders, randomName()), senders, duration)
				r.round = round
				results = append(results, r)
			}
		}
	}
	t.Log("hotroom: one room, senders spread over two instances, each keeping one send in flight\n" + hotroomTable(results))
	for _, r := range results {
		if r.failed > 0 {
			t.Errorf("%s, round %d, %d senders: %d sends failed, the first: %s", r.server, r.round, r.senders, r.failed, r.failure)
		}
	}
}

// hotroomServer is two processes of one chatserver binary on backends of
// their own, with a signed-in user on each.
type hotroomServer struct {
	name  string
	procs [2]*chatProc
	users [2]string // a token of each process's user
}

func startHotroomServer(t *testing.T, name, binary string) *hotroomServer {
	t.Helper()
	be := startBackends(t)
	s := &hotroomServer{name: name}
	// startChat runs chatBinary; the tests of this package run one at a
	// time, so the binary can be swapped while the processes start.
	defer func(built string) { chatBinary = built }(chatBinary)
	chatBinary = binary
	for i := range s.procs {
		p := startChat(t, be, fmt.Sprint(name, "-", i))
		s.procs[i] = p
		s.users[i] = chattest.Login(t, p.base, fmt.Sprint("hot", i), mpPassword)
	}
	return s
}

// hotroomRow is what one row measured.
type hotroomRow struct {
	server   string
	round    int
	senders  int
	sends    int
	elapsed  time.Duration
	p50, p99 time.Duration
	failed   int    // sends answered with an error, or not within chattest.Timeout
	failure  string // the first of them
}

func (r hotroomRow) rate() float64 { return float64(r.sends) / r.elapsed.Seconds() }

// run has senders connections, spread over the two processes, send to room
// for duration, and checks that a subscriber on each process received every
// message in seq order.
func (s *hotroomServer) run(t *testing.T, room string, senders int, duration time.Duration) hotroomRow {
	t.Helper()
	var subs [2]*chattest.Client
	for i, p := range s.procs {
		subs[i] = chattest.Dial(t, p.base, s.users[i])
		subs[i].OK(map[string]any{"type": "join", "room": room}, nil)
	}
	conns := make([]*chattest.Client, senders)
	for i := range conns {
		conns[i] = chattest.Dial(t, s.procs[i%2].base, s.users[i%2])
	}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		latencies []time.Duration
		failures  []string
		total     int
	)
	start := time.Now()
	deadline := start.Add(duration)
	var last time.Time
	for i, c := range conns {
		wg.Go(func() {
			var mine []time.Duration
			n := 0
			for ; n == 0 || time.Now().Before(deadline); n++ {
				sent := time.Now()
				f, err := c.CommandErr(map[string]any{"type": "send", "room": room, "text": fmt.Sprintf("sender %d, #%d", i, n), "cid": fmt.Sprint(i, "-", n)})
				if err == nil && !f.OK {
					err = fmt.Errorf("%s", f.Raw)
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					break
				}
				mine = append(mine, time.Since(sent))
			}
			mu.Lock()
			defer mu.Unlock()
			latencies = append(latencies, mine...)
			total += n
			if now := time.Now(); now.After(last) {
				last = now
			}
		})
	}
	wg.Wait()
	row := hotroomRow{server: s.name, senders: senders, sends: total, elapsed: last.Sub(start), failed: len(failures)}
	if len(latencies) > 0 {
		slices.Sort(latencies)
		row.p50, row.p99 = latencies[len(latencies)/2], latencies[len(latencies)*99/100]
	}
	if len(failures) > 0 {
		// Some sends may be stored without an answer: the subscribers
		// cannot be checked against the count.
		row.failure = failures[0]
		return row
	}
	for i, sub := range subs {
		for want, m := range sub.Messages(room, total) {
			if m.Seq != int64(want+1) {
				t.Fatalf("subscriber on process %d: message %d has seq %d: a gap, a repeat or disorder", i, want+1, m.Seq)
			}
		}
		sub.Close()
	}
	for _, c := range conns {
		c.Close()
	}
	return row
}

// hotroomTable prints the rows, each rate also as a ratio to the first
// row of its server and round (the baseline: the fewest senders).
func hotroomTable(rows []hotroomRow) string {
	var b strings.Builder
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(&b, "load average at the end: %s", load)
	fmt.Fprintf(&b, "%-10s %5s %7s %7s %9s %8s %9s %9s %6s\n", "server", "round", "senders", "sends", "sends/s", "vs base", "ack p50", "ack p99", "failed")
	var base float64
	for i, r := range rows {
		if i == 0 || rows[i-1].server != r.server || rows[i-1].round != r.round {
			base = r.rate()
		}
		fmt.Fprintf(&b, "%-10s %5d %7d %7d %9.1f %8.2f %9s %9s %6d\n", r.server, r.round, r.senders, r.sends, r.rate(), r.rate()/base,
			r.p50.Round(100*time.Microsecond), r.p99.Round(100*time.Microsecond), r.failed)
	}
	return b.String()
}

func hotroomSenders(t *testing.T) []int {
	t.Helper()
	var rows []int
	for _, f := range strings.Split(hotroomEnv("HOTROOM_SENDERS", "1,2,8"), ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			t.Fatalf("HOTROOM_SENDERS: %q is no positive number", f)
		}
		rows = append(rows, n)
	}
	return rows
}

func hotroomDuration(t *testing.T) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(hotroomEnv("HOTROOM_DURATION", "2s"))
	if err != nil || d <= 0 {
		t.Fatalf("HOTROOM_DURATION: %v", err)
	}
	return d
}

func hotroomRounds(t *testing.T) int {
	t.Helper()
	n, err := strconv.Atoi(hotroomEnv("HOTROOM_ROUNDS", "1"))
	if err != nil || n < 1 {
		t.Fatalf("HOTROOM_ROUNDS: %v", err)
	}
	return n
}

type hotroomBinary struct{ name, path string }

func hotroomBinaries(t *testing.T) []hotroomBinary {
	t.Helper()
	spec := hotroomEnv("HOTROOM_SERVERS", "")
	if spec == "" {
		return []hotroomBinary{{"this", chatBinary}}
	}
	var out []hotroomBinary
	for _, f := range strings.Split(spec, ",") {
		name, path, ok := strings.Cut(f, "=")
		if !ok || name == "" {
			t.Fatalf("HOTROOM_SERVERS: %q is not name=path", f)
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("HOTROOM_SERVERS: %v", err)
		}
		out = append(out, hotroomBinary{name, path})
	}
	return out
}

func hotroomEnv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
