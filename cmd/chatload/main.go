// Command chatload is ChatCluster's load generator. It signs a few users in
// to one or more running chat servers and runs the scenarios of make bench:
// fan-out at the maximum rate, fan-out at a fixed rate, idle connections,
// the room list of a user in many busy rooms, and message search in a large
// store. It prints one table and exits non-zero when a subscriber saw a gap,
// a duplicate or a reordering, or missed an acknowledged message, or when
// the room list or a search answer was wrong.
// docs/bench.md tells how to read the table.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

type config struct {
	servers, scenarios, note     string
	pids                         []int
	users                        int
	userPrefix, password         string
	size, window, dialPar        int
	maxSubs, maxPubs             int
	pacedSubs, pacedPubs         int
	pacedRate                    float64
	duration, warmup, drain      time.Duration
	pacedDuration                time.Duration
	idleConns                    int
	roomsRooms, roomsMessages    int
	roomsPubs, roomsRequests     int
	searchRooms, searchMessages  int
	searchRequests               int
	seedSearch                   string // a data directory to seed for the search scenario
	settle, wait                 time.Duration
	allowRemote, quiet           bool
	epoll                        bool // fan-out subscribers receive on epoll loops (Linux, ws://)
	epollLoops                   int  // how many; 0: epollLoops()
	kernelRx                     bool // epoll subscribers also time receipt by the kernel's receive timestamps
	cpuProfile, serverProfile    string
	targetDelivered, targetIdleK float64
	targetP99, targetRoomsP99    time.Duration
	targetSearchP99              time.Duration
	protocol, label, jsonFile    string // -protocol, -label, -json
	sourceAddrs                  int    // loopback source addresses the connections come from
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("chatload: ")
	var cfg config
	var pids string
	fs := flag.CommandLine
	fs.StringVar(&cfg.servers, "servers", "http://127.0.0.1:8080", "comma-separated base URLs of the chat-server instances; connections are spread over them round-robin")
	fs.StringVar(&cfg.scenarios, "scenarios", "idle,max,paced,rooms", "scenarios to run, in order: idle, durable, max, paced, rooms, search (idle first: the servers' memory is then not yet inflated by the fan-out runs; rooms last: the others then run on a small store; search only on a data directory seeded by -seed-search, as make bench does; durable only with -fsync-dir)")
	fs.StringVar(&pids, "pids", "", "comma-separated process ids of the servers, to read their RSS (idle) and CPU time from /proc")
	fs.StringVar(&cfg.note, "note", "", "what the servers run with, printed in the header (for example their CHAT_RATE_LIMIT)")
	fs.IntVar(&cfg.users, "users", 8, "users to sign in (password hashing is slow); connections share their tokens")
	fs.StringVar(&cfg.userPrefix, "user-prefix", "bench", "user names are this prefix and a number")
	fs.StringVar(&cfg.password, "password", "chatload-bench-password", "password of the bench users (registered on first use)")
	fs.IntVar(&cfg.size, "size", 64, "bytes of message text (the send time and padding)")
	fs.IntVar(&cfg.window, "window", 256, "sends in flight per publisher (the server takes up to 256 per connection)")
	fs.IntVar(&cfg.dialPar, "dial-parallel", 32, "connections opened at once")
	fs.IntVar(&cfg.maxSubs, "max-subs", 100, "max: subscribers")
	fs.IntVar(&cfg.maxPubs, "max-pubs", 2, "max: publishers")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "max: measured time")
	fs.IntVar(&cfg.pacedSubs, "paced-subs", 1000, "paced: subscribers")
	fs.IntVar(&cfg.pacedPubs, "paced-pubs", 2, "paced: publishers")
	fs.Float64Var(&cfg.pacedRate, "paced-rate", 200, "paced: messages per second, all publishers together")
	fs.DurationVar(&cfg.pacedDuration, "paced-duration", 10*time.Second, "paced: measured time")
	fs.DurationVar(&cfg.warmup, "warmup", time.Second, "sending before the measured window of a fan-out scenario")
	fs.DurationVar(&cfg.drain, "drain", 10*time.Second, "after the window, how long to wait for acks and deliveries in flight")
	fs.IntVar(&cfg.idleConns, "idle-conns", 5000, "idle: connections")
	fs.IntVar(&cfg.roomsRooms, "rooms-rooms", 1000, "rooms: public rooms filled")
	fs.IntVar(&cfg.roomsMessages, "rooms-messages", 100, "rooms: messages per room")
	fs.IntVar(&cfg.roomsPubs, "rooms-pubs", 4, "rooms: publishers filling the rooms, as users 0, 1, … in turn (user 0 is the one whose room list is timed)")
	fs.IntVar(&cfg.roomsRequests, "rooms-requests", 200, "rooms: GET /api/rooms timed, one after another")
	fs.IntVar(&cfg.searchRooms, "search-rooms", 1000, "search: rooms seeded (every tenth a DM of the measured user, every tenth another one a DM of two others)")
	fs.IntVar(&cfg.searchMessages, "search-messages", 1000000, "search: messages seeded")
	fs.IntVar(&cfg.searchRequests, "search-requests", 100, "search: GET /api/search timed per query, one after another")
	fs.StringVar(&cfg.seedSearch, "seed-search", "", "seed this data directory (before a server opens it) with the search scenario's messages, when -scenarios has search, and exit")
	fs.DurationVar(&cfg.settle, "settle", 3*time.Second, "idle: wait before reading RSS (then until it stops moving)")
	fs.DurationVar(&cfg.wait, "wait", 60*time.Second, "how long to wait for the servers' /healthz")
	fs.BoolVar(&cfg.allowRemote, "allow-remote", false, "allow servers that are not on a loopback address")
	fs.BoolVar(&cfg.quiet, "q", false, "print only the table")
	fs.BoolVar(&cfg.epoll, "epoll", true, "fan-out subscribers receive on epoll loops rather than a goroutine each (Linux, ws:// servers; elsewhere ignored)")
	fs.IntVar(&cfg.epollLoops, "epoll-loops", 0, "epoll loops receiving for the fan-out subscribers; 0 is one per GOMAXPROCS")
	fs.BoolVar(&cfg.kernelRx, "kernel-rx", false, "epoll subscribers also take the kernel's receive time of each read (SO_TIMESTAMPNS), and a line under the table gives the latency to it: the server's share, without the generator's own delay in reading")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write chatload's own CPU profile to this file")
	fs.StringVar(&cfg.serverProfile, "server-profile", "", "during max, save the first server's /debug/pprof/profile to this file")
	fs.Float64Var(&cfg.targetDelivered, "target-delivered", 1e6, "max: target delivered msgs/s")
	fs.DurationVar(&cfg.targetP99, "target-p99", 25*time.Millisecond, "paced: target latency p99")
	fs.DurationVar(&cfg.targetRoomsP99, "target-rooms-p99", 100*time.Millisecond, "rooms: target GET /api/rooms p99")
	fs.DurationVar(&cfg.targetSearchP99, "target-search-p99", 200*time.Millisecond, "search: target GET /api/search p99 of each query")
	fs.Float64Var(&cfg.targetIdleK, "target-idle-kib", 12, "idle: target RSS KiB per connection")
	fs.StringVar(&cfg.protocol, "protocol", "chat", "what the servers speak: chat (the chat server's protocol), socketio (Socket.IO 4 on the WebSocket transport, as hack/peers/socketio relays it) or centrifugo (Centrifugo's JSON protocol, anonymous clients); the peers have no sign-in and run idle, max and paced")
	fs.StringVar(&cfg.label, "label", "", "the system's name in the output (default: chatcluster, or the peer's -protocol)")
	fs.StringVar(&cfg.jsonFile, "json", "", "append one JSON object per line per scenario result (max, paced, idle) to this file")
	fs.IntVar(&cfg.sourceAddrs, "source-addrs", defaultSourceAddrs, "spread the connections to a 127.0.0.1 server over the source addresses 127.0.0.1 … 127.0.0.N: one address has only about 28,000 ephemeral ports")
	freePort := fs.Bool("free-port", false, "print a free TCP port on 127.0.0.1 and exit (for scripts that start a server)")
	flag.Parse()

	if *freePort {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
		l.Close()
		return
	}
	for p := range strings.SplitSeq(pids, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		pid, err := strconv.Atoi(p)
		if err != nil {
			log.Fatalf("-pids: %q is not a process id", p)
		}
		cfg.pids = append(cfg.pids, pid)
	}
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.seedSearch != "" {
		if slices.Contains(strings.Split(cfg.scenarios, ","), "search") {
			pl := newSearchPlan(cfg.searchRooms, cfg.searchMessages, strings.ToLower(cfg.userPrefix+"0"))
			if err := seedSearch(ctx, cfg.seedSearch, pl, log.Printf); err != nil {
				log.Fatal(err)
			}
		}
		return
	}
	code, err := run(ctx, cfg, os.Stdout)
	if err != nil {
		log.Print(err)
		code = 2
	}
	pprof.StopCPUProfile()
	os.Exit(code)
}

// bench is one run of the generator against a set of servers.
type bench struct {
	cfg     config
	targets []target
	tokens  []string
	pids    []int
	epoch   time.Time
	// loadBefore is the 1-minute load average when the run began: the
	// figures mean little on a machine that was busy with other work.
	loadBefore string
}

// now is the generator's clock: monotonic nanoseconds since the run began.
// Send times travel in message texts on it, so latencies are exact as long
// as senders and receivers are in this process.
func (b *bench) now() int64 { return int64(time.Since(b.epoch)) }

func (b *bench) logf(format string, args ...any) {
	if !b.cfg.quiet {
		log.Printf(format, args...)
	}
}

// cpu returns the CPU time used so far by the servers (zero without -pids)
// and by the generator itself.
func (b *bench) cpu() (srv, gen time.Duration) {
	if len(b.pids) > 0 {
		_, srv, _ = procStats(b.pids)
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru) // fails only on a bad argument
	gen = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return srv, gen
}

// run runs the scenarios, prints the table to out and returns the exit code.
func run(ctx context.Context, cfg config, out io.Writer) (int, error) {
	targets, err := parseTargets(cfg.servers, cfg.allowRemote)
	if err != nil {
		return 0, err
	}
	scenarios := strings.Split(cfg.scenarios, ",")
	// The chat protocol runs every scenario; the peers' protocols some.
	known := chatProtocol{}.scenarios()
	for _, s := range scenarios {
		if !slices.Contains(known, s) {
			return 0, fmt.Errorf("-scenarios: unknown scenario %q (want %s)", s, strings.Join(known, ", "))
		}
	}
	if err := speak(targets, cfg, scenarios); err != nil {
		return 0, err
	}
	b := &bench{cfg: cfg, targets: targets, pids: cfg.pids, epoch: time.Now(), loadBefore: loadAvg()}
	for _, t := range targets {
		if err := waitHealthy(ctx, t, cfg.wait); err != nil {
			return 0, err
		}
	}
	b.tokens = make([]string, cfg.users)
	if targets[0].proto.signsIn() {
		b.logf("signing in %d users", cfg.users)
		// One at a time: each sign-in hashes a password with tens of MiB.
		err = forEach(cfg.users, 1, func(i int) error {
			var err error
			// Tokens are valid on every instance: one sign-in each is enough.
			b.tokens[i], err = login(ctx, targets[i%len(targets)], b.userName(i), cfg.password)
			return err
		})
	}
	if err != nil {
		return 0, err
	}

	var (
		fanouts []*fanoutResult
		idle    *idleResult
		rooms   *roomsResult
		search  *searchResult
		durable *durableResult
	)
	for _, s := range scenarios {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		switch s {
		case "idle":
			if idle, err = b.runIdle(ctx, cfg.idleConns, cfg.settle); err != nil {
				return 0, err
			}
		case "max", "paced":
			spec := fanoutSpec{name: s, subs: cfg.maxSubs, pubs: cfg.maxPubs, window: cfg.window, size: cfg.size,
				warmup: cfg.warmup, duration: cfg.duration, drain: cfg.drain}
			if s == "paced" {
				spec.subs, spec.pubs, spec.rate, spec.duration = cfg.pacedSubs, cfg.pacedPubs, cfg.pacedRate, cfg.pacedDuration
			}
			r, err := b.runFanout(ctx, spec)
			if err != nil {
				return 0, err
			}
			fanouts = append(fanouts, r)
		case "rooms":
			if rooms, err = b.runRooms(ctx); err != nil {
				return 0, err
			}
		case "search":
			if search, err = b.runSearch(ctx); err != nil {
				return 0, err
			}
		case "durable":
			if durable, err = b.runDurable(ctx, durableFlags); err != nil {
				return 0, err
			}
		}
		b.waitQuiet(ctx)
	}
	return b.report(out, fanouts, idle, rooms, search, durable), b.writeJSON(fanouts, idle)
}

// userName is the name user i signs in with.
func (b *bench) userName(i int) string { return fmt.Sprintf("%s%d", b.cfg.userPrefix, i) }

// userID is user i's id: its name in lower case.
func (b *bench) userID(i int) string { return strings.ToLower(b.userName(i)) }

// waitQuiet lets the servers finish the work the previous scenario left
// (closing hundreds of connections is not free) before the next one starts:
// until they use under a tenth of a core, at most 15 s.
func (b *bench) waitQuiet(ctx context.Context) {
	if len(b.pids) == 0 {
		sleepCtx(ctx, 2*time.Second)
		return
	}
	for range 30 {
		c0, _ := b.cpu()
		sleepCtx(ctx, 500*time.Millisecond)
		if c1, _ := b.cpu(); c1-c0 < 50*time.Millisecond {
			return
		}
	}
}

// report prints the table and returns the exit code: 1 when correctness
// failed, else 0 (a missed performance target is printed, not fatal).
func (b *bench) report(out io.Writer, fanouts []*fanoutResult, idle *idleResult, rooms *roomsResult, search *searchResult, durable *durableResult) int {
	code := 0
	fmt.Fprintf(out, "\nchatload: %s, %d server(s): %s", b.label(), len(b.targets), b.cfg.servers)
	if b.cfg.note != "" {
		fmt.Fprintf(out, " (%s)", b.cfg.note)
	}
	users := "anonymous clients" // the peers' protocols sign no one in
	if b.targets[0].proto.signsIn() {
		users = fmt.Sprintf("%d users", b.cfg.users)
	}
	fmt.Fprintf(out, "\n%s, %d-byte texts, window %d sends in flight per publisher; %d CPUs, load average %s at the start, %s at the end\n\n",
		users, b.cfg.size, b.cfg.window, runtime.NumCPU(), b.loadBefore, loadAvg())
	if len(fanouts) > 0 {
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "scenario\tsubs\tpubs\tsends/s\tdelivered/s\tlat p50\tlat p99\tlat max\tack p50\tack p99\tgaps\tdupes\tooo\tlost\tsrv cpu\tgen cpu\tsrv cpu/M\ttarget\t")
		for _, r := range fanouts {
			target, met := "-", true
			switch r.spec.name {
			case "max":
				target = fmt.Sprintf(">= %s/s", human(b.cfg.targetDelivered))
				met = r.deliveredRate() >= b.cfg.targetDelivered
			case "paced":
				target = fmt.Sprintf("p99 <= %v", b.cfg.targetP99)
				all := r.allLat()
				met = all.n > 0 && all.quantile(0.99) <= b.cfg.targetP99
			}
			all := r.allLat()
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s %s\t\n",
				r.spec.name, r.spec.subs, r.spec.pubs,
				human(float64(r.sends)/r.window.Seconds()), human(r.deliveredRate()),
				ms(all.quantile(0.5)), ms(all.quantile(0.99)), ms(time.Duration(all.max)),
				ms(r.ack.quantile(0.5)), ms(r.ack.quantile(0.99)),
				r.gaps, r.dupes, r.ooo, r.lost, b.cores(r.srvCPU), b.cores(r.genCPU), b.cpuPerMillion(r), target, verdict(met))
		}
		tw.Flush()
		for _, r := range fanouts {
			if r.latRx.n > 0 {
				fmt.Fprintf(out, "%s: latency to the subscriber's kernel (-kernel-rx) p50 %s p99 %s max %s (%d)\n",
					r.spec.name, ms(r.latRx.quantile(0.5)), ms(r.latRx.quantile(0.99)), ms(time.Duration(r.latRx.max)), r.latRx.n)
			}
			if len(b.targets) > 1 {
				fmt.Fprintf(out, "%s: latency sender and receiver on the same server p50 %s p99 %s (%d), on different servers p50 %s p99 %s (%d)\n",
					r.spec.name, ms(r.lat.quantile(0.5)), ms(r.lat.quantile(0.99)), r.lat.n,
					ms(r.latCross.quantile(0.5)), ms(r.latCross.quantile(0.99)), r.latCross.n)
			}
			if r.gaps+r.dupes+r.ooo+r.lost > 0 {
				fmt.Fprintf(out, "%s: FAIL: subscribers saw %d missing seqs, %d duplicates, %d out of order, and %d acked messages never arrived\n",
					r.spec.name, r.gaps, r.dupes, r.ooo, r.lost)
				code = 1
			}
			if len(r.closed) > 0 {
				fmt.Fprintf(out, "%s: FAIL: connections ended by the server: %s\n", r.spec.name, counts(r.closed))
				code = 1
			}
			if len(r.sendErrs) > 0 {
				fmt.Fprintf(out, "%s: FAIL: sends refused: %s\n", r.spec.name, counts(r.sendErrs))
				code = 1
			}
			if r.sends == 0 || r.delivered == 0 {
				fmt.Fprintf(out, "%s: FAIL: nothing was acked or delivered in the window\n", r.spec.name)
				code = 1
			}
		}
		fmt.Fprintln(out)
	}
	if idle != nil {
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "scenario\tconns\trss before\trss half\trss after\tper conn\tmarginal\ttarget\t")
		fmt.Fprintf(tw, "idle\t%d\t%d KiB\t%d KiB\t%d KiB\t%.1f KiB\t%.1f KiB\t<= %g KiB %s\t\n", idle.conns,
			idle.rssBefore, idle.rssHalf, idle.rssAfter, idle.perConnKiB(), idle.marginalKiB(),
			b.cfg.targetIdleK, verdict(max(idle.perConnKiB(), idle.marginalKiB()) <= b.cfg.targetIdleK))
		tw.Flush()
		if len(idle.closed) > 0 {
			fmt.Fprintf(out, "idle: FAIL: connections ended by the server: %s\n", counts(idle.closed))
			code = 1
		}
		fmt.Fprintln(out)
	}
	if rooms != nil {
		code = max(code, b.reportRooms(out, rooms))
	}
	if search != nil {
		code = max(code, b.reportSearch(out, search))
	}
	if durable != nil {
		code = max(code, b.reportDurable(out, durable, durableFlags.target))
	}
	return code
}

// loadAvg returns the 1-minute load average, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

func (r *fanoutResult) deliveredRate() float64 { return float64(r.delivered) / r.window.Seconds() }

func (r *fanoutResult) allLat() *hist {
	var h hist
	h.merge(&r.lat)
	h.merge(&r.latCross)
	return &h
}

func (b *bench) cores(c float64) string {
	if len(b.pids) == 0 && c == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", c)
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
}

// human writes a rate with a k or M suffix.
func human(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case v >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	default:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
}

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for i, k := range keys {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%d × %s", m[k], k)
	}
	return sb.String()
}
