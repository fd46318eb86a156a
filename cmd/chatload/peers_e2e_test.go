package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startSocketIO starts the relay of hack/peers/socketio on Node, after npm ci
// when its packages are missing, and returns its base URL and process id.
func startSocketIO(t *testing.T) (base string, pid int) {
	t.Helper()
	dir := filepath.Join("..", "..", "hack", "peers", "socketio")
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); errors.Is(err, fs.ErrNotExist) {
		npm := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		npm.Dir = dir
		if out, err := npm.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	port := freePort(t)
	srv := exec.Command("node", "server.js")
	srv.Dir = dir
	srv.Env = append(os.Environ(), "PORT="+port, "REDIS_URL=")
	return "http://127.0.0.1:" + port, startPeer(t, srv)
}

// startCentrifugo starts the pinned Centrifugo (hack/peers/centrifugo), built
// into bin/ as make centrifugo builds it when it is not there yet, and
// returns its base URL and process id.
func startCentrifugo(t *testing.T) (base string, pid int) {
	t.Helper()
	dir := filepath.Join("..", "..", "hack", "peers", "centrifugo")
	version, err := os.ReadFile(filepath.Join(dir, "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	v := strings.TrimSpace(string(version))
	bin, err := filepath.Abs(filepath.Join("..", "..", "bin", "centrifugo-"+v+"-"+runtime.Version()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); errors.Is(err, fs.ErrNotExist) {
		gobin := t.TempDir()
		install := exec.Command("go", "install", "github.com/centrifugal/centrifugo/v6@"+v)
		install.Env = append(os.Environ(), "GOBIN="+gobin)
		if out, err := install.CombinedOutput(); err != nil {
			t.Fatalf("go install centrifugo@%s: %v\n%s", v, err, out)
		}
		if err := os.MkdirAll(filepath.Dir(bin), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(gobin, "centrifugo"), bin); err != nil {
			t.Fatal(err)
		}
	}
	port := freePort(t)
	cfg, err := exec.Command(filepath.Join(dir, "config.sh"), port).Output()
	if err != nil {
		t.Fatalf("config.sh: %v", err)
	}
	conf := filepath.Join(t.TempDir(), "centrifugo.json")
	if err := os.WriteFile(conf, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	return "http://127.0.0.1:" + port, startPeer(t, exec.Command(bin, "-c", conf))
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// startPeer starts a peer's server process, stopped when the test ends, and
// returns its process id; its output is logged when the test failed.
func startPeer(t *testing.T, srv *exec.Cmd) int {
	t.Helper()
	var logs bytes.Buffer
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		t.Fatalf("%s: %v", srv, err)
	}
	t.Cleanup(func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		_ = srv.Wait()
		if t.Failed() {
			t.Logf("the peer's output:\n%s", logs.String())
		}
	})
	return srv.Process.Pid
}

// readResults reads the lines of a -json file.
func readResults(t *testing.T, file string) []result {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rs []result
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var r result
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("line %d of %s: %v: %s", len(rs)+1, file, err, sc.Bytes())
		}
		rs = append(rs, r)
	}
	return rs
}

// TestRunAgainstPeers runs max, paced and idle against each peer in its
// protocol (the relay of hack/peers/socketio, the Centrifugo of
// hack/peers/centrifugo), with subscribers and idle connections on epoll
// loops and through gorilla, and checks the table and the -json lines:
// messages delivered, connections held, no errors.
func TestRunAgainstPeers(t *testing.T) {
	for proto, start := range map[string]func(*testing.T) (string, int){"socketio": startSocketIO, "centrifugo": startCentrifugo} {
		t.Run(proto, func(t *testing.T) { runAgainstPeer(t, proto, start) })
	}
}

func runAgainstPeer(t *testing.T, proto string, start func(*testing.T) (string, int)) {
	base, pid := start(t)
	for _, epoll := range []bool{true, false} {
		t.Run(fmt.Sprintf("epoll=%v", epoll), func(t *testing.T) {
			cfg := testConfig(base)
			cfg.protocol, cfg.label, cfg.scenarios = proto, "peer-"+proto, "max,paced,idle"
			cfg.pids, cfg.epoll, cfg.sourceAddrs = []int{pid}, epoll, defaultSourceAddrs
			cfg.idleConns, cfg.wait = 200, 30*time.Second
			cfg.jsonFile = filepath.Join(t.TempDir(), "results.json")
			var out bytes.Buffer
			code, err := run(context.Background(), cfg, &out)
			t.Log("\n" + out.String())
			if err != nil || code != 0 {
				t.Fatalf("run = %d, %v; want 0, nil", code, err)
			}
			if !strings.Contains(out.String(), "chatload: peer-"+proto+", 1 server(s)") {
				t.Error("the table does not name the system")
			}
			rs := readResults(t, cfg.jsonFile)
			if len(rs) != 3 {
				t.Fatalf("%d results, want max, paced and idle: %+v", len(rs), rs)
			}
			for i, want := range []result{
				{System: "peer-" + proto, Scenario: "max", Subs: cfg.maxSubs, Pubs: cfg.maxPubs, Conns: cfg.maxSubs + cfg.maxPubs},
				{System: "peer-" + proto, Scenario: "paced", Subs: cfg.pacedSubs, Pubs: cfg.pacedPubs, Conns: cfg.pacedSubs + cfg.pacedPubs},
				{System: "peer-" + proto, Scenario: "idle", Conns: cfg.idleConns},
			} {
				r := rs[i]
				if r.System != want.System || r.Scenario != want.Scenario || r.Subs != want.Subs || r.Pubs != want.Pubs || r.Conns != want.Conns {
					t.Errorf("result %d is %+v, want %+v", i, r, want)
				}
				if r.Errors != 0 {
					t.Errorf("%s: %d errors", r.Scenario, r.Errors)
				}
				if r.Scenario == "idle" {
					if r.ConnectsPerS <= 0 || r.WindowS <= 0 {
						t.Errorf("idle: %.1f connects/s over %.3f s", r.ConnectsPerS, r.WindowS)
					}
				} else if r.Delivered == 0 || r.Sends == 0 || r.DeliveredPerS <= 0 || r.LatP50Ms <= 0 {
					t.Errorf("%s: %d sends, %d delivered (%.0f/s), latency p50 %.3f ms", r.Scenario, r.Sends, r.Delivered, r.DeliveredPerS, r.LatP50Ms)
				}
			}
		})
	}
}
