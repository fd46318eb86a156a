// Package redistest runs a real redis-server for tests: one per test binary,
// on a free port, with persistence off, stopped when the tests end. Tests never
// skip for want of Redis: without redis-server on PATH they fail with a message
// saying how to install it.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// EnvURL names the variable that points tests at an existing Redis instead of
// one they start. Tests that restart Redis still start their own.
const EnvURL = "CHAT_TEST_REDIS_URL"

// InstallHint is what a test failure says when redis-server is missing.
const InstallHint = "redis-server not found on PATH: install it (apt-get install -y redis-server, or hack/ci/setup-redis.sh), or set " + EnvURL + " to a Redis the tests may use"

// Server is a redis-server process owned by the test binary. It is safe for
// concurrent use.
type Server struct {
	dir  string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// Start starts a redis-server on a free 127.0.0.1 port with persistence off and
// waits until it answers. dir holds its log.
func Start(dir string) (*Server, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, errors.New(InstallHint)
	}
	var lastErr error
	for range 5 { // a free port can be taken between probing and binding it
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s := &Server{dir: dir, port: port}
		if lastErr = s.start(); lastErr == nil {
			return s, nil
		}
	}
	return nil, lastErr
}

// URL is the redis:// URL of the server.
func (s *Server) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

// Addr is the server's host:port.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// Stop kills the server (SIGKILL: like a crash, nothing is saved) and waits
// for it to exit. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart kills the server and starts a new, empty one on the same port.
func (s *Server) Restart() error {
	s.Stop()
	var err error
	// The old process's port can linger for a moment after it dies.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err = s.start(); err == nil {
			return nil
		}
	}
	return err
}

// Start again after Stop, on the same port.
func (s *Server) Start() error { return s.start() }

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("redistest: already running")
	}
	logFile := filepath.Join(s.dir, fmt.Sprintf("redis-%d.log", s.port))
	cmd := exec.Command("redis-server",
		"--bind", "127.0.0.1", "--port", strconv.Itoa(s.port),
		"--save", "", "--appendonly", "no", "--daemonize", "no",
		"--dir", s.dir, "--logfile", logFile)
	// The server dies with the test binary even if the tests crash.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: start redis-server: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }() // ends when the process exits
	if err := waitReady(s.Addr(), done, 10*time.Second); err != nil {
		_ = cmd.Process.Kill()
		<-done
		log, _ := os.ReadFile(logFile)
		return fmt.Errorf("redistest: redis-server on port %d: %w\n%s", s.port, err, tail(string(log), 10))
	}
	s.cmd, s.done = cmd, done
	return nil
}

// waitReady waits until the server at addr answers PING.
func waitReady(addr string, exited <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		if ping(ctx, addr) == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("exited at start")
		case <-ctx.Done():
			return errors.New("not answering PING")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func ping(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("answered %q", line)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Shared is the Redis of one test binary: the one CHAT_TEST_REDIS_URL names,
// or a redis-server started on first use. Main runs the tests and stops it.
type Shared struct {
	once   sync.Once
	url    string
	server *Server
	dir    string
	err    error
}

// URL returns the shared Redis's URL, starting the server on first use.
func (sh *Shared) URL() (string, error) {
	sh.once.Do(func() {
		if u := os.Getenv(EnvURL); u != "" {
			sh.url = u
			return
		}
		sh.dir, sh.err = os.MkdirTemp("", "redistest-")
		if sh.err != nil {
			return
		}
		sh.server, sh.err = Start(sh.dir)
		if sh.err == nil {
			sh.url = sh.server.URL()
		}
	})
	return sh.url, sh.err
}

// Run is the body of a test binary's TestMain: it quiets the Redis client's
// log, runs the tests and stops the shared server; it returns the exit code.
func (sh *Shared) Run(m *testing.M) int {
	QuietClientLog()
	code := m.Run()
	sh.Close()
	return code
}

// Close stops the server Shared started, if any, and removes its directory.
func (sh *Shared) Close() {
	if sh.server != nil {
		sh.server.Stop()
	}
	if sh.dir != "" {
		_ = os.RemoveAll(sh.dir)
	}
}

// QuietClientLog silences go-redis's own logger, which prints every failed
// dial while a test has Redis down, unless CHAT_TEST_VERBOSE is set.
func QuietClientLog() {
	if os.Getenv("CHAT_TEST_VERBOSE") == "" {
		goredis.SetLogger(discard{})
	}
}

type discard struct{}

func (discard) Printf(context.Context, string, ...any) {}

// MustURL is URL for a test: it fails t when there is no Redis.
func (sh *Shared) MustURL(t testing.TB) string {
	t.Helper()
	u, err := sh.URL()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Eventually polls cond until it returns nil, and fails t with cond's last
// error if that takes longer than timeout: how tests wait for convergence
// (a heartbeat expiring, a subscription coming back) without timed asserts.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
