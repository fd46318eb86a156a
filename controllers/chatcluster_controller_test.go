package controllers

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
)

func TestReconcileCreatesEveryObjectOfTheContract(t *testing.T) {
	cc := newChatCluster()
	h := newHarness(t, cc)
	h.reconcile(cc)

	objs := map[string]client.Object{
		"demo-chat-server/Deployment":     &appsv1.Deployment{},
		"demo-chat-server/Service":        &corev1.Service{},
		"demo-chat-server/ServiceAccount": &corev1.ServiceAccount{},
		"demo-chat-server/ConfigMap":      &corev1.ConfigMap{},
		"demo-chat-server/Secret":         &corev1.Secret{},
		"demo-chat-server/Ingress":        &networkingv1.Ingress{},
		"demo-chat-server/PDB":            &policyv1.PodDisruptionBudget{},
		"demo-indexer/Deployment":         &appsv1.Deployment{},
		"demo-backends/NetworkPolicy":     &networkingv1.NetworkPolicy{},
	}
	for _, b := range []string{"redis", "mongodb", "kafka", "elasticsearch"} {
		objs["demo-"+b+"/StatefulSet"] = &appsv1.StatefulSet{}
		objs["demo-"+b+"/Service"] = &corev1.Service{}
	}
	for key, obj := range objs {
		name := strings.Split(key, "/")[0]
		h.get(obj, name)
		component := strings.TrimPrefix(name, "demo-")
		want := map[string]string{
			"app.kubernetes.io/name":       "chatcluster",
			"app.kubernetes.io/instance":   "demo",
			"app.kubernetes.io/managed-by": "chatcluster-operator",
			"app.kubernetes.io/component":  component,
		}
		for k, v := range want {
			if obj.GetLabels()[k] != v {
				t.Errorf("%s: label %s = %q, want %q", key, k, obj.GetLabels()[k], v)
			}
		}
		if !metav1.IsControlledBy(obj, cc) {
			t.Errorf("%s: not controlled by the ChatCluster: %v", key, obj.GetOwnerReferences())
		}
	}
	if !h.absent(&autoscalingv2.HorizontalPodAutoscaler{}, "demo-chat-server") {
		t.Error("HPA exists with autoscaling disabled")
	}
}

func TestChatServerPodsAreLockedDownAndReadSecretsByReference(t *testing.T) {
	cc := newChatCluster(withExternalRedis("my-redis"))
	h := newHarness(t, cc, secret("my-redis", map[string]string{"url": "redis://r:6379", "password": "hunter2", "ca.crt": "PEM"}))
	h.reconcile(cc)

	d := &appsv1.Deployment{}
	h.get(d, "demo-chat-server")
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	if !*pod.SecurityContext.RunAsNonRoot || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Error("chat server may run as root or write its root filesystem")
	}
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes: %v %v", c.LivenessProbe.HTTPGet, c.ReadinessProbe.HTTPGet)
	}
	if c.Resources.Requests.Cpu().IsZero() {
		t.Error("no CPU request")
	}
	refs := map[string]string{}
	for _, e := range c.Env {
		if e.Name == "CHAT_REDIS_CA_FILE" {
			// A path, where the Secret's ca.crt is mounted.
			if e.Value != "/etc/chatcluster/ca/redis/ca.crt" {
				t.Errorf("CHAT_REDIS_CA_FILE = %q", e.Value)
			}
			continue
		}
		if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("env %s is not a Secret reference", e.Name)
			continue
		}
		refs[e.Name] = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
	}
	for env, ref := range map[string]string{
		"CHAT_REDIS_URL":      "my-redis/url",
		"CHAT_REDIS_PASSWORD": "my-redis/password",
		"CHAT_SESSION_KEY":    "demo-chat-server/session-key",
		"CHAT_ADMIN_PASSWORD": "demo-chat-server/admin-password",
	} {
		if refs[env] != ref {
			t.Errorf("env %s = %q, want a reference to %s", env, refs[env], ref)
		}
	}

	cm := &corev1.ConfigMap{}
	h.get(cm, "demo-chat-server")
	for k, v := range cm.Data {
		if strings.Contains(v, "hunter2") || strings.Contains(v, "redis://r") {
			t.Errorf("ConfigMap key %s copies the Secret: %q", k, v)
		}
	}
	if cm.Data["CHAT_MONGODB_URI"] != "mongodb://demo-mongodb.chat.svc:27017/chat" {
		t.Errorf("CHAT_MONGODB_URI = %q", cm.Data["CHAT_MONGODB_URI"])
	}
	if cm.Data["CHAT_ALLOWED_ORIGINS"] != "http://chat.localtest.me" {
		t.Errorf("CHAT_ALLOWED_ORIGINS = %q", cm.Data["CHAT_ALLOWED_ORIGINS"])
	}
	if !h.absent(&appsv1.StatefulSet{}, "demo-redis") {
		t.Error("a StatefulSet runs the external Redis")
	}

	indexer := &appsv1.Deployment{}
	h.get(indexer, "demo-indexer")
	if got := indexer.Spec.Template.Spec.Containers[0].Args; len(got) != 1 || got[0] != "index" {
		t.Errorf("indexer args = %v", got)
	}
	for _, e := range indexer.Spec.Template.Spec.Containers[0].Env {
		if strings.HasPrefix(e.Name, "CHAT_REDIS") {
			t.Errorf("indexer reads %s", e.Name)
		}
	}
}

func TestSecondReconcileWritesNothing(t *testing.T) {
	cc := newChatCluster(withExternalRedis("my-redis"))
	h := newHarness(t, cc, secret("my-redis", map[string]string{"url": "redis://r"}))
	h.reconcile(cc)
	first := h.writes.total()
	if first == 0 {
		t.Fatal("first reconcile wrote nothing")
	}
	h.reconcile(cc)
	if n := h.writes.total() - first; n != 0 {
		t.Errorf("second reconcile made %d writes: %v", n, h.writes.counts)
	}
}

func TestMissingExternalSecretDegradesAndRecovers(t *testing.T) {
	cc := newChatCluster(withExternalRedis("my-redis"))
	h := newHarness(t, cc)
	if res := h.reconcile(cc); res.RequeueAfter == 0 {
		t.Error("no requeue while not ready")
	}
	got := &chatv1.ChatCluster{}
	h.get(got, "demo")
	degraded := meta.FindStatusCondition(got.Status.Conditions, chatv1.ConditionDegraded)
	if degraded == nil || degraded.Status != metav1.ConditionTrue || degraded.Reason != chatv1.ReasonSecretMissing ||
		!strings.Contains(degraded.Message, `"my-redis"`) {
		t.Fatalf("Degraded = %+v", degraded)
	}
	if meta.IsStatusConditionTrue(got.Status.Conditions, chatv1.ConditionReady) {
		t.Error("Ready with a missing Secret")
	}

	if err := h.client.Create(context.Background(), secret("my-redis", map[string]string{"password": "x"})); err != nil {
		t.Fatal(err)
	}
	h.reconcile(cc)
	h.get(got, "demo")
	degraded = meta.FindStatusCondition(got.Status.Conditions, chatv1.ConditionDegraded)
	if degraded.Reason != chatv1.ReasonSecretKeyMissing || !strings.Contains(degraded.Message, `"url"`) {
		t.Fatalf("Degraded = %+v, want the missing key url named", degraded)
	}

	s := &corev1.Secret{}
	h.get(s, "my-redis")
	s.Data["url"] = []byte("redis://r")
	if err := h.client.Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	h.reconcile(cc)
	h.get(got, "demo")
	if meta.IsStatusConditionTrue(got.Status.Conditions, chatv1.ConditionDegraded) {
		t.Errorf("still Degraded: %+v", meta.FindStatusCondition(got.Status.Conditions, chatv1.ConditionDegraded))
	}
	if !meta.IsStatusConditionTrue(got.Status.Conditions, chatv1.ConditionRedisReady) {
		t.Error("RedisReady is not True")
	}
}

func TestSecretChangeChangesThePodTemplateHash(t *testing.T) {
	cc := newChatCluster(withExternalRedis("my-redis"))
	h := newHarness(t, cc, secret("my-redis", map[string]string{"url": "redis://a"}))
	h.reconcile(cc)
	d := &appsv1.Deployment{}
	h.get(d, "demo-chat-server")
	before := d.Spec.Template.Annotations[configHashAnnotation]

	s := &corev1.Secret{}
	h.get(s, "my-redis")
	s.Data["url"] = []byte("redis://b")
	if err := h.client.Update(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	h.reconcile(cc)
	h.get(d, "demo-chat-server")
	if after := d.Spec.Template.Annotations[configHashAnnotation]; after == before || after == "" {
		t.Errorf("hash %q did not change (was %q)", after, before)
	}
}

func TestAutoscalingLeavesReplicasAlone(t *testing.T) {
	cc := newChatCluster(func(cc *chatv1.ChatCluster) { cc.Spec.Autoscaling.Enabled = true })
	h := newHarness(t, cc)
	h.reconcile(cc)
	d := &appsv1.Deployment{}
	h.get(d, "demo-chat-server")
	d.Spec.Replicas = ptr.To[int32](7) // what the HPA would do
	if err := h.client.Update(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	h.reconcile(cc)
	h.get(d, "demo-chat-server")
	if *d.Spec.Replicas != 7 {
		t.Errorf("replicas = %d, want the autoscaler's 7", *d.Spec.Replicas)
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	h.get(hpa, "demo-chat-server")
	if *hpa.Spec.MinReplicas != 2 || hpa.Spec.MaxReplicas != 10 {
		t.Errorf("HPA bounds %d..%d", *hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
}

func TestOptionalObjectsFollowTheSpec(t *testing.T) {
	cc := newChatCluster()
	h := newHarness(t, cc)
	h.reconcile(cc)

	h.get(cc, "demo")
	cc.Spec.Replicas = ptr.To[int32](1)
	cc.Spec.Ingress.Enabled = ptr.To(false)
	for _, b := range []*chatv1.BackendSpec{&cc.Spec.Redis, &cc.Spec.MongoDB, &cc.Spec.Kafka.BackendSpec, &cc.Spec.Elasticsearch.BackendSpec} {
		b.External = &chatv1.ExternalBackend{SecretName: "ext"}
	}
	if err := h.client.Update(context.Background(), cc); err != nil {
		t.Fatal(err)
	}
	h.reconcile(cc)
	// The managed backends go once no pod of the old template uses them.
	h.rollOut("demo-chat-server")
	h.rollOut("demo-indexer")
	h.reconcile(cc)
	gone := []struct {
		name string
		obj  client.Object
	}{
		{"demo-chat-server", &policyv1.PodDisruptionBudget{}},
		{"demo-chat-server", &networkingv1.Ingress{}},
		{"demo-backends", &networkingv1.NetworkPolicy{}},
		{"demo-kafka", &appsv1.StatefulSet{}},
		{"demo-kafka", &corev1.Service{}},
	}
	for _, g := range gone {
		if !h.absent(g.obj, g.name) {
			t.Errorf("%T %s still exists", g.obj, g.name)
		}
	}
}

func TestUpdateStatusKeepsTransitionTimesAndRecordsEvents(t *testing.T) {
	cc := newChatCluster()
	h := newHarness(t, cc)
	h.get(cc, "demo")
	ready := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "demo-chat-server", Generation: 1},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2, ReadyReplicas: 2},
	}
	var observed []backendState
	for _, b := range backends {
		observed = append(observed, backendState{backend: b, managed: true, ready: true, reason: chatv1.ReasonStatefulSetReady, message: "ok"})
	}
	obs := observation{backends: observed, chatServer: ready, indexer: ready}
	st := computeStatus(cc, obs)
	if ok, err := h.r.updateStatus(context.Background(), cc, st); err != nil || !ok {
		t.Fatalf("updateStatus = %v, %v", ok, err)
	}
	readyCond := *meta.FindStatusCondition(cc.Status.Conditions, chatv1.ConditionReady)
	if readyCond.Reason != chatv1.ReasonAllComponentsReady || readyCond.ObservedGeneration != 1 {
		t.Errorf("Ready = %+v", readyCond)
	}
	writes := h.writes.total()
	if _, err := h.r.updateStatus(context.Background(), cc, computeStatus(cc, obs)); err != nil {
		t.Fatal(err)
	}
	if h.writes.total() != writes {
		t.Error("unchanged status was written")
	}
	if got := meta.FindStatusCondition(cc.Status.Conditions, chatv1.ConditionReady).LastTransitionTime; !got.Equal(&readyCond.LastTransitionTime) {
		t.Errorf("lastTransitionTime moved from %v to %v", readyCond.LastTransitionTime, got)
	}
	select {
	case e := <-h.events.Events:
		if !strings.Contains(e, chatv1.ReasonAllComponentsReady) {
			t.Errorf("event %q", e)
		}
	default:
		t.Error("no event for becoming Ready")
	}
}

func TestGeneratedSecretMissedByTheCacheIsKept(t *testing.T) {
	cc := newChatCluster()
	h := newHarness(t, cc)
	h.reconcile(cc)
	before := &corev1.Secret{}
	h.get(before, "demo-chat-server")

	// A cache that has not seen the Secret yet.
	h.r.APIReader = h.client
	h.r.Client = interceptor.NewClient(h.client.(client.WithWatch), interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*corev1.Secret); ok && key.Name == "demo-chat-server" {
				return apierrors.NewNotFound(corev1.Resource("secrets"), key.Name)
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
	if _, err := h.r.Reconcile(context.Background(), reconcile.Request{NamespacedName: client.ObjectKeyFromObject(cc)}); err != nil {
		t.Fatal(err)
	}
	after := &corev1.Secret{}
	h.get(after, "demo-chat-server")
	for _, k := range []string{sessionKeyKey, adminPasswordKey} {
		if string(after.Data[k]) != string(before.Data[k]) {
			t.Errorf("%s replaced: %q -> %q", k, before.Data[k], after.Data[k])
		}
	}
}

// rollOut makes the Deployment look as its controller leaves it once every
// replica of its latest template is available.
func (h *harness) rollOut(name string) {
	h.t.Helper()
	d := &appsv1.Deployment{}
	h.get(d, name)
	n := ptr.Deref(d.Spec.Replicas, 1)
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
	}
	if err := h.client.Status().Update(context.Background(), d); err != nil {
		h.t.Fatal(err)
	}
}

func TestABackendTurnedExternalIsRemovedOnceNoPodUsesIt(t *testing.T) {
	cc := newChatCluster()
	h := newHarness(t, cc, secret("my-redis", map[string]string{"url": "redis://r"}))
	h.reconcile(cc)
	h.get(&appsv1.StatefulSet{}, "demo-redis")

	h.get(cc, "demo")
	withExternalRedis("my-redis")(cc)
	if err := h.client.Update(context.Background(), cc); err != nil {
		t.Fatal(err)
	}
	h.reconcile(cc)
	if h.absent(&appsv1.StatefulSet{}, "demo-redis") || h.absent(&corev1.Service{}, "demo-redis") {
		t.Fatal("the managed Redis was removed while the chat server's pods still use it")
	}

	h.rollOut("demo-chat-server")
	h.rollOut("demo-indexer")
	h.reconcile(cc)
	if !h.absent(&appsv1.StatefulSet{}, "demo-redis") || !h.absent(&corev1.Service{}, "demo-redis") {
		t.Error("the managed Redis is still there after the chat server rolled out without it")
	}
}
