//go:build faults

package faults

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A real network partition needs network namespaces: a namespace of the
// test holds one chat-server instance, another holds the end of the path to
// Redis, and a veth pair joins them. Every address is either on a
// namespace's own loopback or on that veth pair, inside the test's
// namespaces: nothing is added to the host's network. Cutting the pair
// makes each side send its frames to a hardware address nobody has, so
// packets vanish silently both ways, as in a real partition: connections
// hang rather than fail, until the pair is healed.

// needRoot fails the test, with what to do, unless it runs as root.
func needRoot(t testing.TB, what string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("%s needs root (network namespaces, mounts): run the fault campaign as root, e.g. sudo make faults", what)
	}
}

// ip runs the ip command.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// netns is a network namespace of the test, deleted when the test ends.
type netns struct{ name string }

func newNetns(t testing.TB, role string) *netns {
	t.Helper()
	var r [3]byte
	_, _ = rand.Read(r[:])
	n := &netns{name: "chatfaults-" + role + "-" + hex.EncodeToString(r[:])}
	if err := ip("netns", "add", n.name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ip("netns", "del", n.name); err != nil {
			t.Error(err)
		}
	})
	if err := ip("-n", n.name, "link", "set", "lo", "up"); err != nil {
		t.Fatal(err)
	}
	return n
}

// do runs f on an OS thread that has entered the namespace, and brings
// the thread back to the test's own namespace afterwards; sockets f creates
// belong to the namespace. The thread must outlive f: a child process the
// thread started earlier gets SIGKILL (Pdeathsig) when its thread exits.
// A thread that cannot come back is never unlocked, and so ends with the
// goroutine.
func (n *netns) do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer unix.Close(home)
		target, err := unix.Open("/var/run/netns/"+n.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", n.name, err)
			return
		}
		err = f()
		if unix.Setns(home, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// listen listens on addr inside the namespace.
func (n *netns) listen(addr string) (net.Listener, error) {
	return inside(n, func() (net.Listener, error) { return net.Listen("tcp", addr) })
}

// dial connects to addr from inside the namespace.
func (n *netns) dial(addr string) (net.Conn, error) {
	return inside(n, func() (net.Conn, error) { return net.Dial("tcp", addr) })
}

// inside returns what f makes inside the namespace n.
func inside[T any](n *netns, f func() (T, error)) (T, error) {
	var v T
	err := n.do(func() (err error) {
		v, err = f()
		return err
	})
	return v, err
}

// command is argv run inside the namespace.
func (n *netns) command(argv ...string) []string {
	return append([]string{"ip", "netns", "exec", n.name}, argv...)
}

// veth is a veth pair between two namespaces, one address at each end.
type veth struct {
	a, b         *netns
	ifA, ifB     string
	addrA, addrB string // without the prefix length
	macA, macB   string
}

// newVeth joins a and b with a /30 of 10.201.0.0, an address range that
// exists only inside these two namespaces.
func newVeth(t testing.TB, a, b *netns) *veth {
	t.Helper()
	var r [3]byte
	_, _ = rand.Read(r[:])
	suffix := hex.EncodeToString(r[:])
	v := &veth{a: a, b: b, ifA: "cfa" + suffix, ifB: "cfb" + suffix, addrA: "10.201.0.1", addrB: "10.201.0.2",
		macA: "02:cf:00:00:00:01", macB: "02:cf:00:00:00:02"}
	steps := [][]string{
		{"link", "add", v.ifA, "netns", a.name, "address", v.macA, "type", "veth", "peer", "name", v.ifB, "netns", b.name, "address", v.macB},
		{"-n", a.name, "addr", "add", v.addrA + "/30", "dev", v.ifA},
		{"-n", b.name, "addr", "add", v.addrB + "/30", "dev", v.ifB},
		{"-n", a.name, "link", "set", v.ifA, "up"},
		{"-n", b.name, "link", "set", v.ifB, "up"},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// cut makes every packet between the two ends vanish: each side resolves
// the other's address to a hardware address that is not on the link, and
// a veth drops frames that are not for it.
func (v *veth) cut() error {
	for _, s := range [][]string{
		{"-n", v.a.name, "neigh", "replace", v.addrB, "lladdr", "02:cf:de:ad:00:02", "dev", v.ifA, "nud", "permanent"},
		{"-n", v.b.name, "neigh", "replace", v.addrA, "lladdr", "02:cf:de:ad:00:01", "dev", v.ifB, "nud", "permanent"},
	} {
		if err := ip(s...); err != nil {
			return err
		}
	}
	return nil
}

// heal puts the right hardware addresses back.
func (v *veth) heal() error {
	for _, s := range [][]string{
		{"-n", v.a.name, "neigh", "replace", v.addrB, "lladdr", v.macB, "dev", v.ifA, "nud", "reachable"},
		{"-n", v.b.name, "neigh", "replace", v.addrA, "lladdr", v.macA, "dev", v.ifB, "nud", "reachable"},
	} {
		if err := ip(s...); err != nil {
			return err
		}
	}
	return nil
}
