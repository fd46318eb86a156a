package controllers

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/structured-merge-diff/v6/typed"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
)

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := chatv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// newChatCluster returns a ChatCluster named demo with the defaults the CRD
// schema would apply, changed by each modifier.
func newChatCluster(mods ...func(*chatv1.ChatCluster)) *chatv1.ChatCluster {
	cc := &chatv1.ChatCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "chat", Generation: 1, UID: "uid-demo"},
		Spec: chatv1.ChatClusterSpec{
			Version:     "0.1.0",
			Replicas:    ptr.To[int32](2),
			Autoscaling: chatv1.AutoscalingSpec{MinReplicas: 2, MaxReplicas: 10, TargetCPUUtilizationPercentage: 70},
			Auth:        chatv1.AuthSpec{Mode: chatv1.AuthModePassword, ProxyHeader: "X-Forwarded-User"},
			Ingress:     chatv1.IngressSpec{Enabled: ptr.To(true), Host: "chat.localtest.me", ClassName: "nginx"},
			Kafka:       chatv1.KafkaSpec{Topic: "chat.activity"},
		},
	}
	for _, m := range mods {
		m(cc)
	}
	return cc
}

func withExternalRedis(secret string) func(*chatv1.ChatCluster) {
	return func(cc *chatv1.ChatCluster) {
		cc.Spec.Redis = chatv1.BackendSpec{External: &chatv1.ExternalBackend{SecretName: secret}}
	}
}

func withManagedStorage(q string) func(*chatv1.ChatCluster) {
	return func(cc *chatv1.ChatCluster) {
		cc.Spec.MongoDB = chatv1.BackendSpec{Managed: &chatv1.ManagedBackend{Storage: ptr.To(resource.MustParse(q))}}
	}
}

func secret(name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "chat"}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

// counter stands in for random strings: each call returns a new value, so
// that a regenerated Secret would show as a change.
func counter() func(int) string {
	var mu sync.Mutex
	n := 0
	return func(int) string {
		mu.Lock()
		defer mu.Unlock()
		n++
		return fmt.Sprintf("generated-%d", n)
	}
}

// writes counts the writes a client makes.
type writes struct {
	mu     sync.Mutex
	counts map[string]int
}

func (w *writes) add(verb string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.counts[verb]++
}

func (w *writes) total() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range w.counts {
		n += c
	}
	return n
}

// harness is a reconciler on a fake client that counts its writes.
type harness struct {
	t      *testing.T
	client client.Client
	r      *ChatClusterReconciler
	writes *writes
	events *events.FakeRecorder
}

func newHarness(t *testing.T, objs ...client.Object) *harness {
	t.Helper()
	s := testScheme(t)
	w := &writes{counts: map[string]int{}}
	c := fake.NewClientBuilder().
		WithScheme(s).
		WithObjects(objs...).
		WithStatusSubresource(&chatv1.ChatCluster{}).
		WithIndex(&chatv1.ChatCluster{}, SecretNamesIndex, externalSecretNames).
		WithReturnManagedFields().
		WithTypeConverters(withoutNetworkPolicyStatus{builtinTypes}, deducedTypes).
		WithInterceptorFuncs(interceptor.Funcs{
			Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
				w.add("apply")
				return c.Apply(ctx, obj, opts...)
			},
			Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
				w.add("create")
				return c.Create(ctx, obj, opts...)
			},
			Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
				w.add("patch")
				return c.Patch(ctx, obj, p, opts...)
			},
			Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
				w.add("update")
				return c.Update(ctx, obj, opts...)
			},
			Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
				w.add("delete")
				return c.Delete(ctx, obj, opts...)
			},
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
				w.add("status")
				return c.SubResource(sub).Patch(ctx, obj, p, opts...)
			},
		}).
		Build()
	rec := events.NewFakeRecorder(100)
	r := &ChatClusterReconciler{
		Client: c, Scheme: s, Recorder: rec, Images: DefaultImages,
		Random: counter(),
		// Every external backend answers: envtest checks reachability
		// against real sockets.
		Dial: func(context.Context, string, string) (net.Conn, error) {
			a, b := net.Pipe()
			b.Close()
			return a, nil
		},
	}
	return &harness{t: t, client: c, r: r, writes: w, events: rec}
}

// withoutNetworkPolicyStatus works around the fake client, which gives
// NetworkPolicies a status that their schema no longer declares: converting
// such an object to a typed value fails, and server-side apply with it.
type withoutNetworkPolicyStatus struct{ managedfields.TypeConverter }

func (c withoutNetworkPolicyStatus) ObjectToTyped(obj runtime.Object, opts ...typed.ValidationOptions) (*typed.TypedValue, error) {
	if obj.GetObjectKind().GroupVersionKind().Kind == "NetworkPolicy" {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return nil, err
		}
		m = runtime.DeepCopyJSON(m)
		delete(m, "status")
		obj = &unstructured.Unstructured{Object: m}
	}
	return c.TypeConverter.ObjectToTyped(obj, opts...)
}

func (h *harness) reconcile(cc *chatv1.ChatCluster) reconcile.Result {
	h.t.Helper()
	res, err := h.r.Reconcile(context.Background(), reconcile.Request{NamespacedName: client.ObjectKeyFromObject(cc)})
	if err != nil {
		h.t.Fatalf("reconcile: %v", err)
	}
	return res
}

func (h *harness) get(obj client.Object, name string) {
	h.t.Helper()
	if err := h.client.Get(context.Background(), client.ObjectKey{Namespace: "chat", Name: name}, obj); err != nil {
		h.t.Fatalf("get %T %s: %v", obj, name, err)
	}
}

func (h *harness) absent(obj client.Object, name string) bool {
	h.t.Helper()
	err := h.client.Get(context.Background(), client.ObjectKey{Namespace: "chat", Name: name}, obj)
	return client.IgnoreNotFound(err) == nil && err != nil
}
