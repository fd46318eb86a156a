//go:build faults

package faults

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a program the campaign starts, kills and starts again: the same
// command line and environment each time, every run's output appended to
// one log file.
type proc struct {
	name string
	argv []string
	env  []string
	log  string

	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{} // closed when the current run has exited
	start int64         // log size when the current run started
	runs  int
}

// newProc returns a process of the test that is stopped when the test ends
// (and dies with the test binary if that crashes).
func newProc(t testing.TB, name string, argv, env []string) *proc {
	t.Helper()
	p := &proc{name: name, argv: argv, env: env, log: t.TempDir() + "/" + name + ".log"}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s log (end):\n%s", name, p.tail(40))
		}
	})
	return p
}

// run starts the process; it must not be running.
func (p *proc) run() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("%s is running already", p.name)
		}
	}
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	p.runs++
	fi, _ := logf.Stat()
	p.start = fi.Size()
	fmt.Fprintf(logf, "--- run %d at %s\n", p.runs, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Env = append(environ(), p.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() { // ends when the process exits
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

// current returns the running process and its exit channel, if any.
func (p *proc) current() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.done
}

// running reports whether the process runs.
func (p *proc) running() bool {
	cmd, done := p.current()
	if cmd == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// signal sends sig to the running process, if any.
func (p *proc) signal(sig syscall.Signal) {
	if cmd, _ := p.current(); cmd != nil {
		_ = cmd.Process.Signal(sig)
	}
}

// kill ends the process with SIGKILL, as a crash, and waits for it.
func (p *proc) kill() {
	cmd, done := p.current()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT) // a stopped process dies too, but say so
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// stop ends the process with SIGTERM, or SIGKILL after 15 s.
func (p *proc) stop() {
	cmd, done := p.current()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		p.kill()
	}
}

// output returns what the current run wrote so far.
func (p *proc) output() string {
	p.mu.Lock()
	start := p.start
	p.mu.Unlock()
	b, _ := os.ReadFile(p.log)
	if int64(len(b)) < start {
		return ""
	}
	return string(b[start:])
}

// waitLine waits for the current run to print a line NAME=value and returns
// value.
func (p *proc) waitLine(name string, within time.Duration) (string, error) {
	deadline := time.Now().Add(within)
	for {
		sc := bufio.NewScanner(strings.NewReader(p.output()))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), name+"="); ok {
				return v, nil
			}
		}
		if !p.running() {
			return "", fmt.Errorf("%s exited before it printed %s: %s", p.name, name, p.tail(20))
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s printed no %s within %v: %s", p.name, name, within, p.tail(20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitReady waits until url+"/readyz" answers 200.
func (p *proc) waitReady(url string, within time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(within)
	for {
		err := probe(client, url+"/readyz")
		if err == nil {
			return nil
		}
		if !p.running() {
			return fmt.Errorf("%s exited before it was ready: %s", p.name, p.tail(20))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %v (%w): %s", p.name, within, err, p.tail(20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// environ is the test's environment without the chat server's settings,
// so that only those the campaign gives reach its processes.
func environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHAT_") {
			env = append(env, kv)
		}
	}
	return env
}

// probe is one GET that must answer 200.
func probe(client *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), client.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

// tail returns the last n lines of the log.
func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
