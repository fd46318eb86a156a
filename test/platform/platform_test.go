//go:build platform

// Package platform proves the platform as a whole: a ChatCluster applied to
// a simulated cluster, reconciled by the real operator, whose pods the
// platform kubelet (test/platform/kubelet) runs as real processes: the chat
// server built from this tree, Debian's redis-server, and stand-ins for
// MongoDB, Kafka and Elasticsearch. Run it with `make test-platform` (root;
// see README.md).
package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatcluster/chatcluster/test/platform/e2e"
)

// Bounds of the waits: generous, they only end a failing run.
const (
	readyWithin   = 10 * time.Minute // a ChatCluster from nothing to Ready
	rolloutWithin = 5 * time.Minute  // pods rolled, a new generation Ready
	chatWithin    = time.Minute      // a message, a presence change
	indexWithin   = 3 * time.Minute  // an activity event through Kafka, the indexer and Elasticsearch
	stopGrace     = 90 * time.Second // the kubelet stops every pod first
)

const (
	namespace     = "chat"
	name          = "demo"
	externalRedis = "redis.external.test"
)

// platform is what the test started, stopped in reverse order at its end.
type platform struct {
	repo, kubeBin, bin, work string

	sim     *e2e.Sim
	cluster *e2e.Cluster
	kubelet *e2e.Kubelet
	manager *e2e.Process

	redis         *e2e.Process
	redisPort     int
	redisPassword string
}

func TestPlatform(t *testing.T) {
	p := setUp(t)
	ctx := t.Context()

	step(t, "a ChatCluster with only admins set becomes Ready", func(t *testing.T) {
		p.kubectl(t, `apiVersion: chat.chatcluster.io/v1alpha1
kind: ChatCluster
metadata: {name: demo, namespace: chat}
spec: {auth: {admins: [admin]}}
`, "apply", "-f", "-")
		p.waitReady(t, readyWithin)
		p.waitRolledOut(t, "")
	})
	step(t, "two users chat across two chat-server pods, and the admin finds it in the activity log", func(t *testing.T) {
		p.chat(t, 2, "managed")
	})
	step(t, "Redis switched to an external server: the pods roll and chat goes through it", func(t *testing.T) {
		before := p.configHash(t)
		p.writeRedisSecret(t, 0)
		p.patch(t, `{"spec":{"redis":{"managed":null,"external":{"secretName":"redis-external"}}}}`)
		p.waitGone(t, "statefulset", "demo-redis")
		p.waitRolledOut(t, before)
		p.waitReady(t, rolloutWithin)
		p.chat(t, 2, "external")
		p.requireRedisKeys(t, 0)
	})
	step(t, "the external Secret changes: the pods roll and chat goes to the new database", func(t *testing.T) {
		before := p.configHash(t)
		p.writeRedisSecret(t, 1)
		p.waitRolledOut(t, before)
		p.waitReady(t, rolloutWithin)
		p.chat(t, 2, "rolled")
		p.requireRedisKeys(t, 1)
	})
	step(t, "scaled to 3: every pod serves", func(t *testing.T) {
		p.patch(t, `{"spec":{"replicas":3}}`)
		p.waitReady(t, rolloutWithin)
		p.waitRolledOut(t, "")
		p.chat(t, 3, "three")
	})
	step(t, "the manager as its ServiceAccount, bound by config/rbac, brings a change to Ready", func(t *testing.T) {
		p.runManagerAsServiceAccount(ctx, t)
		p.patch(t, `{"spec":{"replicas":2}}`)
		p.waitReady(t, rolloutWithin)
		p.waitRolledOut(t, "")
		p.chat(t, 2, "rbac")
		p.requireNoForbidden(t)
	})
}

// step runs a step as a subtest; a failed step ends the test.
func step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, f) {
		t.FailNow()
	}
}

// setUp checks the prerequisites, then starts the external Redis, the
// simulated cluster, the kubelet and the manager, and installs the CRD.
// Everything is stopped when the test ends, after a failing test printed
// what explains it.
func setUp(t *testing.T) *platform {
	ctx := t.Context()
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	p := &platform{
		repo:    repo,
		kubeBin: envOr("KUBE_BIN", filepath.Join(repo, "bin")),
		bin:     envOr("PLATFORM_BIN", filepath.Join(repo, "bin", "platform")),
		work:    envOr("PLATFORM_WORK", filepath.Join(repo, "bin", "platform-run")),
	}
	p.checkPrerequisites(t)

	// An earlier run's cluster, if one was left running, goes first.
	if err := (&e2e.Sim{Dir: filepath.Join(p.work, "sim")}).Stop(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(p.work); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(p.work, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("work directory (logs, state): %s", p.work)

	p.startExternalRedis(t)
	t.Cleanup(func() { stop(t, p.redis, 10*time.Second) })

	t.Log("starting the simulated cluster")
	if p.sim, err = e2e.StartSim(ctx, repo, p.kubeBin, filepath.Join(p.work, "sim")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.sim.Stop(); err != nil {
			t.Errorf("stopping the simulated cluster: %v", err)
		}
	})
	if p.cluster, err = e2e.Connect(p.sim.Kubeconfig, filepath.Join(p.kubeBin, "kubectl")); err != nil {
		t.Fatal(err)
	}

	t.Log("installing the CRD")
	p.kubectl(t, "", "apply", "--server-side", "-k", filepath.Join(repo, "config/crd"))
	// Polled rather than kubectl wait, which fails at once while the new CRD
	// has no conditions yet.
	if err := e2e.WaitFor(ctx, time.Minute, "the CRD established", func(ctx context.Context) (bool, error) {
		out, err := p.cluster.Kubectl(ctx, "", "get", "crd/chatclusters.chat.chatcluster.io",
			"-o", `jsonpath={.status.conditions[?(@.type=="Established")].status}`)
		return strings.TrimSpace(out) == "True", err
	}); err != nil {
		t.Fatal(err)
	}
	p.kubectl(t, "", "create", "namespace", namespace)

	t.Log("starting the kubelet")
	p.kubelet, err = e2e.StartKubelet(ctx, filepath.Join(p.bin, "kubelet"), p.sim.Kubeconfig, p.work,
		"--programs-dir", p.bin, "--external", fmt.Sprintf("%s=127.0.0.1:%d", externalRedis, p.redisPort))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(t, p.kubelet.Process, stopGrace) })

	t.Log("starting the manager")
	p.manager = p.startManager(t, "manager", p.sim.Kubeconfig)
	t.Cleanup(func() { stop(t, p.manager, 30*time.Second) })
	t.Cleanup(func() { p.diagnose(t) })
	return p
}

// checkPrerequisites fails, naming everything missing at once, when the
// test cannot run here.
func (p *platform) checkPrerequisites(t *testing.T) {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (network namespaces, mounts, switching users)")
	}
	for _, prog := range []string{"ip", "unshare", "nsenter", "setpriv", "mount", "bash", "redis-server", "redis-cli", "openssl", "python3"} {
		if _, err := exec.LookPath(prog); err != nil {
			missing = append(missing, prog+" (hack/ci/setup-platform.sh installs it)")
		}
	}
	for _, f := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl"} {
		if _, err := os.Stat(filepath.Join(p.kubeBin, f)); err != nil {
			missing = append(missing, filepath.Join(p.kubeBin, f)+" (make tools)")
		}
	}
	for _, f := range []string{"kubelet", "chatserver", "manager", "standin-mongodb", "standin-kafka", "standin-elasticsearch"} {
		if _, err := os.Stat(filepath.Join(p.bin, f)); err != nil {
			missing = append(missing, filepath.Join(p.bin, f)+" (make test-platform builds it)")
		}
	}
	if len(missing) > 0 {
		t.Fatalf("cannot run the platform test; missing:\n  %s", strings.Join(missing, "\n  "))
	}
}

// startExternalRedis runs the Redis that the ChatCluster is later switched
// to, on the host's loopback with a password; pods reach it as
// redis.external.test through the kubelet.
func (p *platform) startExternalRedis(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.redisPort = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p.redisPassword = randomHex(12)
	dir := filepath.Join(p.work, "external-redis")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p.redis, err = e2e.Start("external redis", filepath.Join(p.work, "external-redis.log"), nil,
		"redis-server", "--bind", "127.0.0.1", "--port", strconv.Itoa(p.redisPort), "--dir", dir,
		"--save", "", "--appendonly", "no", "--requirepass", p.redisPassword)
	if err != nil {
		t.Fatal(err)
	}
}

func (p *platform) startManager(t *testing.T, logName, kubeconfig string, args ...string) *e2e.Process {
	argv := append([]string{filepath.Join(p.bin, "manager"), "--kubeconfig", kubeconfig,
		"--metrics-bind-address=0", "--health-probe-bind-address=127.0.0.1:0"}, args...)
	m, err := e2e.Start(logName, filepath.Join(p.work, logName+".log"), nil, argv...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func stop(t *testing.T, proc *e2e.Process, grace time.Duration) {
	if proc == nil {
		return
	}
	if err := proc.Stop(grace); err != nil {
		t.Errorf("stopping %s: %v (log: %s)", proc.Name, err, proc.Log)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// kubectl runs kubectl with stdin against the cluster, failing the test on
// an error.
func (p *platform) kubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := p.cluster.Kubectl(ctx, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
