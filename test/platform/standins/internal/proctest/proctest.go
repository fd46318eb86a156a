// Package proctest runs a stand-in's own test binary as the stand-in
// process, the way the platform test's kubelet runs it: with exactly the
// environment and arguments given, logging to stderr, stopped by SIGTERM.
//
// A command package's TestMain is Main; a test then calls Start, which
// re-executes the test binary with a marker variable that Main removes
// before calling the command's main.
package proctest

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const marker = "STANDIN_PROCTEST_RUN_MAIN"

// Main is a command package's TestMain: it runs the command's main when
// the binary was started by Start, and the tests otherwise.
func Main(m *testing.M, main func()) {
	if os.Getenv(marker) == "1" {
		_ = os.Unsetenv(marker)
		main()
		return
	}
	os.Exit(m.Run())
}

// Proc is a running stand-in.
type Proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan struct{}
	err    error
}

type lockedWriter struct{ p *Proc }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.stderr.Write(b)
}

// Start runs the test binary as the stand-in with env (and nothing else)
// and args.
func Start(t *testing.T, env map[string]string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = []string{marker + "=1"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &Proc{cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = lockedWriter{p}
	cmd.Stdout = lockedWriter{p}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Stderr is what the process wrote so far.
func (p *Proc) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// Wait waits for the process to end and returns its exit status (-1 if it
// did not end within d).
func (p *Proc) Wait(d time.Duration) int {
	select {
	case <-p.done:
	case <-time.After(d):
		return -1
	}
	if p.err == nil {
		return 0
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// Terminate sends SIGTERM and returns the exit status.
func (p *Proc) Terminate(d time.Duration) int {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	return p.Wait(d)
}

// Stop sends SIGTERM and fails the test unless the process exits with
// status 0 within 20 seconds.
func (p *Proc) Stop(t *testing.T) {
	t.Helper()
	if code := p.Terminate(20 * time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGTERM:\n%s", code, p.Stderr())
	}
}

// Kill sends SIGKILL, as a node failure or an out-of-memory kill would, and
// waits for the process to end.
func (p *Proc) Kill(d time.Duration) {
	_ = p.cmd.Process.Kill()
	p.Wait(d)
}

// WaitPort waits until addr accepts connections or the process ends.
func (p *Proc) WaitPort(t *testing.T, addr string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("the stand-in ended before listening on %s:\n%s", addr, p.Stderr())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s after %v:\n%s", addr, d, p.Stderr())
}

// FreePort returns a local port nothing listens on (for now).
func FreePort(t *testing.T) string {
	t.Helper()
	return strconv.Itoa(FreePortNumber(t))
}

// FreePortNumber is FreePort as a number.
func FreePortNumber(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// NoSecret fails the test if the output holds the secret.
func NoSecret(t *testing.T, out, secret string) {
	t.Helper()
	if strings.Contains(out, secret) {
		t.Fatalf("the stand-in printed a secret:\n%s", out)
	}
}
