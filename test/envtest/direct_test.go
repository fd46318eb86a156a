//go:build envtest

package envtest

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
	"github.com/chatcluster/chatcluster/controllers"
)

// These tests reconcile by hand a ChatCluster that the running manager
// ignores (directOnly), to control which reconciler sees it and when.

// createDirect creates the ChatCluster demo of ns, labelled directOnly
// from the start, so that the running manager never sees it.
func createDirect(t *testing.T, ns, spec string) *chatv1.ChatCluster {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte("spec: "+spec), &u.Object); err != nil {
		t.Fatalf("bad test spec %q: %v", spec, err)
	}
	u.SetGroupVersionKind(chatv1.GroupVersion.WithKind("ChatCluster"))
	u.SetNamespace(ns)
	u.SetName("demo")
	u.SetLabels(map[string]string{directOnly: "true"})
	if err := k8s.Create(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	cc := &chatv1.ChatCluster{}
	get(t, cc, ns, "demo")
	return cc
}

// operator is a reconciler that talks straight to the API server, with the
// pinned images given.
func operator(images controllers.Images) *controllers.ChatClusterReconciler {
	return &controllers.ChatClusterReconciler{
		Client: countWrites(k8s), APIReader: k8s, Scheme: scheme, Recorder: reconciler.Recorder, Images: images,
	}
}

func stsImage(t *testing.T, ns, backend string) string {
	t.Helper()
	sts := &appsv1.StatefulSet{}
	get(t, sts, ns, "demo-"+backend)
	return sts.Spec.Template.Spec.Containers[0].Image
}

func TestManagedBackendsKeepTheirImageAcrossAnOperatorUpgrade(t *testing.T) {
	ns := newNamespace(t)
	createDirect(t, ns, `{}`)
	before := controllers.DefaultImages
	reconcileDirect(t, operator(before), ns)
	cc := &chatv1.ChatCluster{}
	get(t, cc, ns, "demo")
	if cc.Status.Images["redis"] != before.Redis || cc.Status.Images["mongodb"] != before.MongoDB {
		t.Fatalf("status.images = %v", cc.Status.Images)
	}

	// The upgraded operator pins other images.
	after := before
	after.Redis, after.MongoDB = "mirror.example/redis:7.4.7", "mirror.example/mongo:7.0.26"
	upgraded := operator(after)
	reconcileDirect(t, upgraded, ns)
	if got := stsImage(t, ns, "redis"); got != before.Redis {
		t.Errorf("Redis moved to %s with its spec unchanged", got)
	}
	get(t, cc, ns, "demo")
	if cc.Status.Images["redis"] != before.Redis {
		t.Errorf("status.images.redis = %q", cc.Status.Images["redis"])
	}

	// A change to Redis's managed block moves Redis, and Redis only.
	mergePatch(t, ns, `{"spec": {"redis": {"managed": {"podAnnotations": {"example.com/note": "x"}}}}}`)
	reconcileDirect(t, upgraded, ns)
	if got := stsImage(t, ns, "redis"); got != after.Redis {
		t.Errorf("Redis runs %s after its spec changed, want %s", got, after.Redis)
	}
	if got := stsImage(t, ns, "mongodb"); got != before.MongoDB {
		t.Errorf("MongoDB moved to %s with its spec unchanged", got)
	}

	// The annotation moves every backend, and goes.
	mergePatch(t, ns, `{"metadata": {"annotations": {"`+controllers.UpgradeBackendsAnnotation+`": ""}}}`)
	reconcileDirect(t, upgraded, ns)
	if got := stsImage(t, ns, "mongodb"); got != after.MongoDB {
		t.Errorf("MongoDB runs %s after the upgrade annotation, want %s", got, after.MongoDB)
	}
	get(t, cc, ns, "demo")
	if _, ok := cc.Annotations[controllers.UpgradeBackendsAnnotation]; ok {
		t.Error("the upgrade annotation is still there")
	}
	if cc.Status.Images["mongodb"] != after.MongoDB || cc.Status.Images["redis"] != after.Redis {
		t.Errorf("status.images = %v", cc.Status.Images)
	}
	reconcileDirect(t, upgraded, ns)
	if got := stsImage(t, ns, "mongodb"); got != after.MongoDB {
		t.Errorf("MongoDB went back to %s", got)
	}
}

func TestStatusRecordsTheVersionOnceRolledOut(t *testing.T) {
	ns := newNamespace(t)
	createDirect(t, ns, `{version: 0.2.0}`)
	r := operator(controllers.DefaultImages)
	reconcileDirect(t, r, ns)
	cc := &chatv1.ChatCluster{}
	get(t, cc, ns, "demo")
	if cc.Status.Version != "" {
		t.Errorf("status.version = %q before any pod runs", cc.Status.Version)
	}
	if want := controllers.DefaultImages.ChatServer + ":0.2.0"; cc.Status.Images["chat-server"] != want || cc.Status.Images["indexer"] != want {
		t.Errorf("status.images = %v, want the chat server and indexer at %s", cc.Status.Images, want)
	}
	markWorkloadsReady(t, ns)
	reconcileDirect(t, r, ns)
	get(t, cc, ns, "demo")
	if cc.Status.Version != "0.2.0" {
		t.Errorf("status.version = %q once rolled out", cc.Status.Version)
	}

	mergePatch(t, ns, `{"spec": {"version": "0.3.0"}}`)
	reconcileDirect(t, r, ns)
	get(t, cc, ns, "demo")
	if cc.Status.Version != "0.2.0" {
		t.Errorf("status.version = %q while 0.3.0 rolls out", cc.Status.Version)
	}
}

func TestAPausedChatClusterIsLeftAlone(t *testing.T) {
	ns := newNamespace(t)
	createDirect(t, ns, `{}`)
	r := operator(controllers.DefaultImages)
	reconcileDirect(t, r, ns)
	markWorkloadsReady(t, ns)
	reconcileDirect(t, r, ns)
	cc := &chatv1.ChatCluster{}
	get(t, cc, ns, "demo")
	ready := meta.FindStatusCondition(cc.Status.Conditions, chatv1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionTrue {
		t.Fatalf("Ready = %+v", ready)
	}

	mergePatch(t, ns, `{"metadata": {"annotations": {"`+controllers.PauseAnnotation+`": "paused"}}, "spec": {"replicas": 5}}`)
	svc := &corev1.Service{}
	get(t, svc, ns, "demo-chat-server")
	if err := k8s.Delete(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	reconcileDirect(t, r, ns)
	reconcileDirect(t, r, ns)
	if err := k8s.Get(context.Background(), keyOf(ns, "demo-chat-server"), svc); !apierrors.IsNotFound(err) {
		t.Errorf("the Service came back while paused: %v", err)
	}
	d := &appsv1.Deployment{}
	get(t, d, ns, "demo-chat-server")
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %d while paused", *d.Spec.Replicas)
	}
	get(t, cc, ns, "demo")
	paused := meta.FindStatusCondition(cc.Status.Conditions, chatv1.ConditionPaused)
	if paused == nil || paused.Status != metav1.ConditionTrue || paused.ObservedGeneration != cc.Generation {
		t.Errorf("Paused = %+v", paused)
	}
	if now := meta.FindStatusCondition(cc.Status.Conditions, chatv1.ConditionReady); *now != *ready {
		t.Errorf("Ready changed while paused: %+v, was %+v", now, ready)
	}
	eventRecorded(t, ns, corev1.EventTypeNormal, chatv1.ReasonReconcilePaused)
	sent := requests.Load()
	reconcileDirect(t, r, ns)
	if n := requests.Load() - sent; n != 0 {
		t.Errorf("%d writes to a paused ChatCluster", n)
	}

	mergePatch(t, ns, `{"metadata": {"annotations": {"`+controllers.PauseAnnotation+`": null}}}`)
	reconcileDirect(t, r, ns)
	get(t, svc, ns, "demo-chat-server")
	get(t, d, ns, "demo-chat-server")
	if *d.Spec.Replicas != 5 {
		t.Errorf("replicas = %d after resuming, want 5", *d.Spec.Replicas)
	}
	get(t, cc, ns, "demo")
	if c := meta.FindStatusCondition(cc.Status.Conditions, chatv1.ConditionPaused); c != nil {
		t.Errorf("Paused = %+v after resuming", c)
	}
	eventRecorded(t, ns, corev1.EventTypeNormal, chatv1.ReasonReconcileResumed)
}

func TestTheCacheHoldsOnlyTheOperatorsObjects(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	unrelated := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "someone-elses", Namespace: ns}, StringData: map[string]string{"k": "v"}}
	if err := k8s.Create(ctx, unrelated); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "someone-elses", Namespace: ns}}
	if err := k8s.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	if _, err := createFromYAML(t, ns, `{}`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the generated Secret in the cache", func() (bool, error) {
		err := managerCache.Get(ctx, keyOf(ns, "demo-chat-server"), &corev1.Secret{})
		return err == nil, client.IgnoreNotFound(err)
	})
	for _, obj := range []client.Object{&corev1.Secret{}, &corev1.ConfigMap{}} {
		if err := managerCache.Get(ctx, keyOf(ns, "someone-elses"), obj); !apierrors.IsNotFound(err) {
			t.Errorf("the cache holds %T someone-elses: %v", obj, err)
		}
	}
	var secrets corev1.SecretList
	if err := managerCache.List(ctx, &secrets); err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets.Items {
		if s.Labels["app.kubernetes.io/managed-by"] != "chatcluster-operator" {
			t.Errorf("the cache holds Secret %s/%s", s.Namespace, s.Name)
		}
	}
}
