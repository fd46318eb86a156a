package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Process is a program started by the test, its output in a log file.
type Process struct {
	Name string
	Log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // set before done closes

	stopOnce sync.Once
}

// Start starts argv with its output appended to logPath.
func Start(name, logPath string, env []string, argv ...string) (*Process, error) {
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	// Its own process group: a ^C to the test reaches the test, which
	// stops its processes in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Process{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Err is how the process ended; valid once Exited is closed.
func (p *Process) Err() error { return p.err }

// Stop sends SIGTERM, waits up to grace, then sends SIGKILL, and waits for
// the process to exit. It reports a process that had exited by itself, one
// that needed SIGKILL, and one that failed on SIGTERM (a race-detector
// build whose run found a race exits with status 66).
func (p *Process) Stop(grace time.Duration) error {
	var err error
	p.stopOnce.Do(func() {
		select {
		case <-p.done:
			err = fmt.Errorf("%s had exited by itself: %v", p.Name, p.err)
			return
		default:
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-p.done:
			if p.err != nil {
				err = fmt.Errorf("%s failed on SIGTERM: %w", p.Name, p.err)
			}
		case <-t.C:
			_ = p.cmd.Process.Kill()
			<-p.done
			err = fmt.Errorf("%s did not stop within %v of SIGTERM; killed", p.Name, grace)
		}
	})
	return err
}
