package kubelet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// netNS is a pod's network namespace, created with `ip netns add` so that
// `ip netns exec` runs processes in it with /etc/netns/<name>/hosts and
// resolv.conf bind-mounted over /etc's. It holds only a loopback device,
// carrying 127.0.0.0/8 and the pod's IP.
type netNS struct {
	name string

	// mu keeps file open while a thread enters the namespace through it:
	// a relay may still dial into a pod that is being removed.
	mu   sync.RWMutex
	file *os.File // /run/netns/<name>, for setns; nil once closed
}

// createNetNS creates the namespace with its loopback device up and addr
// on it, and an /etc/netns directory for its hosts and resolv.conf.
func createNetNS(ctx context.Context, name string, addr netip.Addr) (*netNS, error) {
	steps := [][]string{
		{"netns", "add", name},
		{"-n", name, "link", "set", "lo", "up"},
		{"-n", name, "addr", "add", netip.PrefixFrom(addr, addr.BitLen()).String(), "dev", "lo"},
	}
	for i, args := range steps {
		if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
			if i > 0 {
				_ = deleteNetNS(name)
			}
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytesTrim(out))
		}
	}
	f, err := os.Open(filepath.Join("/run/netns", name))
	if err == nil {
		err = os.MkdirAll(etcDir(name), 0o755)
	}
	if err != nil {
		if f != nil {
			f.Close()
		}
		_ = deleteNetNS(name)
		return nil, err
	}
	return &netNS{name: name, file: f}, nil
}

// close releases the namespace and its /etc/netns directory. Sockets still
// open in it keep it alive until they close.
func (n *netNS) close() error {
	n.mu.Lock()
	var err error
	if n.file != nil {
		err = n.file.Close()
		n.file = nil
	}
	n.mu.Unlock()
	return errors.Join(err, deleteNetNS(n.name))
}

// deleteNetNS removes a namespace by name, also one left by an earlier run,
// and kills whatever process is still in it (one that left its process
// group, or one a crashed run left behind).
func deleteNetNS(name string) error {
	var errs []error
	if _, err := os.Stat(filepath.Join("/run/netns", name)); err == nil {
		killProcessesIn(name)
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("ip netns delete %s: %v: %s", name, err, bytesTrim(out)))
		}
	}
	return errors.Join(append(errs, os.RemoveAll(etcDir(name)))...)
}

// killProcessesIn sends SIGKILL to every process in the named namespace.
func killProcessesIn(name string) {
	var ns unix.Stat_t
	if err := unix.Stat(filepath.Join("/run/netns", name), &ns); err != nil {
		return
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st) == nil && st.Ino == ns.Ino && st.Dev == ns.Dev {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// etcDir holds the files `ip netns exec` mounts over /etc's.
func etcDir(name string) string { return filepath.Join("/etc/netns", name) }

// writeEtc replaces the content of a file of the namespace's /etc in place:
// a running process sees it through its bind mount, which a rename would
// leave on the old file.
func (n *netNS) writeEtc(file string, content []byte) error {
	p := filepath.Join(etcDir(n.name), file)
	if old, err := os.ReadFile(p); err == nil && string(old) == string(content) {
		return nil
	}
	return os.WriteFile(p, content, 0o644)
}

// do runs fn on an OS thread that is in the namespace. Sockets created by
// fn stay in the namespace for their whole life. The thread returns to its
// own namespace before it is released; if it cannot, it is left locked and
// the runtime ends it with the goroutine.
func (n *netNS) do(fn func() error) error {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.file == nil {
		return fmt.Errorf("network namespace %s is gone", n.name)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer home.Close()
		if err := unix.Setns(int(n.file.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("entering network namespace %s: %w", n.name, err)
			return
		}
		fnErr := fn()
		if err := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(fnErr, fmt.Errorf("leaving network namespace %s: %w", n.name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- fnErr
	}()
	return <-errc
}

// listen opens a TCP listener inside the namespace.
func (n *netNS) listen(ctx context.Context, addr string) (net.Listener, error) {
	var ln net.Listener
	err := n.do(func() (err error) {
		ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
		return err
	})
	return ln, err
}

// dial connects from inside the namespace. addr must be an IP address and
// port: name resolution would run on another thread.
func (n *netNS) dial(ctx context.Context, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.do(func() (err error) {
		c, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		return err
	})
	return c, err
}

func bytesTrim(b []byte) string { return strings.TrimSpace(string(b)) }
