//go:build envtest

// Package envtest runs the operator against a real kube-apiserver and etcd
// (controller-runtime's envtest; KUBEBUILDER_ASSETS names the folder that
// holds them, bin/ after `make tools`). The API server runs no controllers:
// the tests play the Deployment and StatefulSet controllers by writing status.
package envtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
	"github.com/chatcluster/chatcluster/controllers"
)

var (
	k8s    client.Client // uncached, straight to the API server
	scheme = runtime.NewScheme()
	// reconciler shares the manager's settings; tests call it directly to
	// check that a reconcile of a settled ChatCluster writes nothing.
	reconciler *controllers.ChatClusterReconciler
	// managerCache is the running manager's cache, for tests of what it holds.
	managerCache cache.Cache
	// answering is the host:port of a TCP server that accepts connections:
	// an external backend's address that the operator finds reachable.
	answering string
)

// directOnly labels a ChatCluster that the running manager ignores: its
// test reconciles it by calling a reconciler itself.
const directOnly = "envtest.chatcluster.io/direct"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: run `make test-operator-envtest`, which builds kube-apiserver and etcd into bin/")
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		return 1
	}
	defer ln.Close()
	go acceptAndClose(ln)
	answering = ln.Addr().String()

	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(chatv1.AddToScheme(scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme))
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapLevel())))

	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	// Stop also when Start fails half-way, so that no etcd or API server
	// outlives the test.
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop envtest:", err)
		}
	}()
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start envtest:", err)
		return 1
	}

	if k8s, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		return 1
	}
	// The manager's cache is the operator's, except that it never sees the
	// ChatClusters labelled directOnly: their tests call a reconciler of
	// their own, which no background reconcile must race.
	cacheOpts := controllers.CacheOptions("")
	notDirect, err := labels.Parse("!" + directOnly)
	if err != nil {
		fmt.Fprintln(os.Stderr, "selector:", err)
		return 1
	}
	cacheOpts.ByObject[&chatv1.ChatCluster{}] = cache.ByObject{Label: notDirect}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cacheOpts,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &controllers.ChatClusterReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: scheme,
		Recorder: mgr.GetEventRecorder("chatcluster-operator"),
		Images:   controllers.DefaultImages,
	}
	managerCache = mgr.GetCache()
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		fmt.Fprintln(os.Stderr, "setup:", err)
		cancel()
		return 1
	}
	reconciler = &controllers.ChatClusterReconciler{
		Client: countWrites(k8s), APIReader: k8s, Scheme: scheme, Recorder: r.Recorder, Images: controllers.DefaultImages,
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()
	return m.Run()
}

// zapLevel logs errors only, or everything with ENVTEST_VERBOSE set.
func zapLevel() zapcore.Level {
	if os.Getenv("ENVTEST_VERBOSE") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.ErrorLevel
}

// waitFor polls cond until it holds. The deadline only ends a test that
// would otherwise hang; no assertion depends on how fast the operator is.
func waitFor(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("gave up waiting for %s (last error: %v)", what, lastErr)
}

// newNamespace creates a namespace of its own for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "chat-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func get(t *testing.T, obj client.Object, ns, name string) {
	t.Helper()
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatalf("get %T %s/%s: %v", obj, ns, name, err)
	}
}

func keyOf(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }

// requests counts the writes of the clients countWrites makes.
var requests atomic.Int64

// countWrites wraps c so that every write it sends counts in requests.
func countWrites(c client.Client) client.Client {
	return interceptor.NewClient(c.(client.WithWatch), interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			requests.Add(1)
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			requests.Add(1)
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			requests.Add(1)
			return c.Patch(ctx, obj, p, opts...)
		},
		Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			requests.Add(1)
			return c.Apply(ctx, obj, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			requests.Add(1)
			return c.Delete(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			requests.Add(1)
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		},
	})
}

// acceptAndClose answers every connection to ln by closing it, until ln is
// closed.
func acceptAndClose(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		conn.Close()
	}
}
