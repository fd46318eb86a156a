//go:build platform

// Tests that need root: network namespaces, mounts, other users. They run
// from make test-platform.

package kubelet

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// requireRoot fails a test that cannot run without root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test creates network namespaces and mounts: run it as root (make test-platform)")
	}
}

func testNetNS(t *testing.T, ip string) *netNS {
	t.Helper()
	requireRoot(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ns, err := createNetNS(t.Context(), "ccktest-"+hex.EncodeToString(b), netip.MustParseAddr(ip))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ns.close(); err != nil {
			t.Error(err)
		}
	})
	return ns
}

// TestCommandRunsAContainer starts processes the way containers start and
// checks what they get: exactly the container's environment (also names
// that are not shell names), the user and groups, the host name, the
// volumes (one whose source lies under a directory another volume
// covers), read-only mounts and root, and nothing but a loopback device.
func TestCommandRunsAContainer(t *testing.T) {
	tl, err := findTools()
	if err != nil {
		t.Fatal(err)
	}
	ns := testNetNS(t, "10.244.255.1")
	state := t.TempDir() // under /tmp, which a volume covers
	for _, d := range []string{"tmp", "data", "secret"} {
		if err := os.MkdirAll(filepath.Join(state, d), 0o777); err != nil {
			t.Fatal(err)
		}
		_ = os.Chmod(filepath.Join(state, d), 0o777)
	}
	if err := os.WriteFile(filepath.Join(state, "data", "f"), []byte("from the volume\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mountpoints := []string{"/var/lib/kubelet-test-data", "/etc/kubelet-test"}
	t.Cleanup(func() {
		for _, m := range mountpoints {
			_ = os.RemoveAll(m)
		}
	})
	l := launch{
		netns: ns.name, hostname: "pod-x", workDir: "/tmp",
		mounts: []bindMount{
			{source: filepath.Join(state, "tmp"), target: "/tmp"},
			{source: filepath.Join(state, "secret"), target: "/etc/kubelet-test/ro", readOnly: true},
			{source: filepath.Join(state, "data"), target: "/var/lib/kubelet-test-data"},
		},
		readOnlyRoot: true, noNewPrivs: true, dropAllCaps: true,
		id: identity{uid: 65532, gid: 65532, groups: []int64{2000}},
	}
	slices.SortFunc(l.mounts, func(a, b bindMount) int { return strings.Compare(a.target, b.target) })

	run := func(env map[string]string, argv ...string) string {
		t.Helper()
		l.env, l.argv = env, argv
		out, err := tl.command(l).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
		return string(out)
	}

	env := map[string]string{"PATH": "/usr/bin:/bin", "xpack.security.enabled": "false", "X": "y z"}
	got := strings.Split(strings.TrimSpace(run(env, "/usr/bin/env")), "\n")
	slices.Sort(got)
	want := []string{"PATH=/usr/bin:/bin", "X=y z", "xpack.security.enabled=false"}
	if !slices.Equal(got, want) {
		t.Errorf("environment %q, want exactly %q", got, want)
	}

	out := run(map[string]string{"PATH": "/usr/bin:/bin"}, "/bin/sh", "-c", `
		echo "user $(id -u):$(id -g) groups $(id -G)"
		echo "host $(hostname) in $(pwd)"
		cat /var/lib/kubelet-test-data/f
		touch /var/lib/kubelet-test-data/w && echo "data writable"
		touch /tmp/w && echo "tmp writable"
		touch /etc/kubelet-test/ro/x 2>/dev/null || echo "secret read-only"
		touch /kubelet-test-root 2>/dev/null || echo "root read-only"
		echo "devices $(ls /sys/class/net)"
		grep CapEff /proc/self/status`)
	for _, line := range []string{
		"user 65532:65532 groups 65532 2000", "host pod-x in /tmp", "from the volume", "data writable",
		"tmp writable", "secret read-only", "root read-only", "devices lo", "CapEff:\t0000000000000000",
	} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("the container did not say %q:\n%s", line, out)
		}
	}
	if _, err := os.Stat(filepath.Join(state, "tmp", "w")); err != nil {
		t.Errorf("a file written to /tmp did not land in its volume: %v", err)
	}
	if staged, _ := filepath.Glob("/.kubelet-mounts.*"); len(staged) > 0 {
		t.Errorf("staging directories left on the host: %v", staged)
	}
}

// TestNetwork checks the proxy and the forwards between two sandboxes: a
// Service port reached by name from one pod lands on the other pod's
// target port, an external host is relayed to the host, a pod port is
// forwarded to the host, and a removed sandbox takes its listeners along.
func TestNetwork(t *testing.T) {
	ctx := t.Context()
	client := &sandbox{uid: "client", namespace: "t", name: "client", hostname: "client", ip: netip.MustParseAddr("10.244.255.2"), ns: testNetNS(t, "10.244.255.2")}
	server := &sandbox{uid: "server", namespace: "t", name: "server", hostname: "server", ip: netip.MustParseAddr("10.244.255.3"), ns: testNetNS(t, "10.244.255.3"),
		ports: []containerPort{{container: "echo", name: "echo", port: 9000}}}

	echo(t, func() (net.Listener, error) { return server.ns.listen(ctx, "0.0.0.0:9000") })
	external := echo(t, func() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") })
	_, extPort, _ := net.SplitHostPort(external)

	services := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	endpointSlices := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	_ = services.Add(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "t", Name: "echo"}, Spec: corev1.ServiceSpec{
		Ports: []corev1.ServicePort{{Name: "web", Port: 80, TargetPort: intstr.FromString("echo")}}}})
	_ = endpointSlices.Add(&discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "t", Name: "echo-1", Labels: map[string]string{discoveryv1.LabelServiceName: "echo"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("web"), Port: ptr.To[int32](9000)}},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.255.3"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "t", Name: "server", UID: "server"}}},
	})
	ext, err := ParseExternalHost("ext.test=" + external)
	if err != nil {
		t.Fatal(err)
	}
	nw, err := newNetwork(ctx, slog.New(slog.DiscardHandler), corelisters.NewServiceLister(services), discoverylisters.NewEndpointSliceLister(endpointSlices), []ExternalHost{ext})
	if err != nil {
		t.Fatal(err)
	}
	netCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		nw.run(netCtx)
	}()
	defer func() {
		stop()
		<-done
	}()
	nw.add(ctx, client)
	nw.add(ctx, server)

	hosts, err := os.ReadFile(filepath.Join(etcDir(client.ns.name), "hosts"))
	if err != nil {
		t.Fatal(err)
	}
	svcAddr := lookup(t, hosts, "echo.t.svc")
	extAddr := lookup(t, hosts, "ext.test")
	if got := roundTrip(t, "via service", func() (net.Conn, error) { return client.ns.dial(ctx, svcAddr+":80") }); got != "via service" {
		t.Errorf("service: %q", got)
	}
	if got := roundTrip(t, "via external", func() (net.Conn, error) { return client.ns.dial(ctx, extAddr+":"+extPort) }); got != "via external" {
		t.Errorf("external host: %q", got)
	}
	fwd := nw.forwardsOf(server.uid)
	if len(fwd) != 1 || fwd[0].Port != 9000 {
		t.Fatalf("forwards of the server: %+v", fwd)
	}
	if got := roundTrip(t, "via forward", func() (net.Conn, error) { return net.Dial("tcp", fwd[0].Address) }); got != "via forward" {
		t.Errorf("forward: %q", got)
	}
	if _, err := net.DialTimeout("tcp", svcAddr+":80", time.Second); err == nil {
		t.Error("the Service address answers on the host, outside every pod")
	}

	nw.remove(ctx, server.uid)
	if _, err := net.DialTimeout("tcp", fwd[0].Address, time.Second); err == nil {
		t.Error("the forward of a removed sandbox still answers")
	}
}

// echo serves a line-echo server on the listener listen opens, until the
// test ends, and returns its address.
func echo(t *testing.T, listen func() (net.Listener, error)) string {
	t.Helper()
	ln, err := listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends a line on a connection dial opens and reads it back.
func roundTrip(t *testing.T, text string, dial func() (net.Conn, error)) string {
	t.Helper()
	c, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, text+"\n"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(line)
}

var hostsLine = regexp.MustCompile(`(?m)^(\S+)\t(.*)$`)

// lookup finds a name's address in a hosts file.
func lookup(t *testing.T, hosts []byte, name string) string {
	t.Helper()
	for _, m := range hostsLine.FindAllStringSubmatch(string(hosts), -1) {
		if slices.Contains(strings.Fields(m[2]), name) {
			return m[1]
		}
	}
	t.Fatalf("%s is not in the hosts file:\n%s", name, hosts)
	return ""
}
