//go:build envtest

package envtest

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
)

// mergePatch patches the ChatCluster demo of ns with a JSON merge patch.
func mergePatch(t *testing.T, ns, patch string) {
	t.Helper()
	cc := &chatv1.ChatCluster{}
	cc.Namespace, cc.Name = ns, "demo"
	if err := k8s.Patch(context.Background(), cc, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

func TestFieldsRemovedFromTheSpecLeaveTheObjects(t *testing.T) {
	ns := newNamespace(t)
	if _, err := createFromYAML(t, ns, `{
		ingress: {tlsSecretName: chat-tls, annotations: {example.com/team: chat}},
		resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: "1", memory: 512Mi}}}`); err != nil {
		t.Fatal(err)
	}
	ing := &networkingv1.Ingress{}
	d := &appsv1.Deployment{}
	waitFor(t, "the Ingress with TLS and the annotation, the Deployment with a CPU limit", func() (bool, error) {
		if err := k8s.Get(context.Background(), keyOf(ns, "demo-chat-server"), ing); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		if err := k8s.Get(context.Background(), keyOf(ns, "demo-chat-server"), d); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		_, limited := d.Spec.Template.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU]
		return len(ing.Spec.TLS) == 1 && ing.Annotations["example.com/team"] == "chat" && limited, nil
	})

	mergePatch(t, ns, `{"spec": {"ingress": {"tlsSecretName": null, "annotations": null}, "resources": {"limits": {"cpu": null}}}}`)
	waitFor(t, "TLS, the annotation and the CPU limit gone", func() (bool, error) {
		get(t, ing, ns, "demo-chat-server")
		get(t, d, ns, "demo-chat-server")
		limits := d.Spec.Template.Spec.Containers[0].Resources.Limits
		_, limited := limits[corev1.ResourceCPU]
		_, annotated := ing.Annotations["example.com/team"]
		return len(ing.Spec.TLS) == 0 && !annotated && !limited && limits.Memory().String() == "512Mi", nil
	})
	if ing.Annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "" {
		t.Errorf("the operator's default annotations went too: %v", ing.Annotations)
	}
}

func TestSwitchingBackToManagedRemovesTheCA(t *testing.T) {
	ns := newNamespace(t)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "my-redis", Namespace: ns},
		StringData: map[string]string{"url": "rediss://" + answering, "ca.crt": "-----BEGIN CERTIFICATE-----"},
	}
	if err := k8s.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	if _, err := createFromYAML(t, ns, `{redis: {external: {secretName: my-redis}}}`); err != nil {
		t.Fatal(err)
	}
	d := &appsv1.Deployment{}
	waitFor(t, "the chat server trusting the Secret's CA", func() (bool, error) {
		if err := k8s.Get(context.Background(), keyOf(ns, "demo-chat-server"), d); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		return trustsCA(d), nil
	})

	mergePatch(t, ns, `{"spec": {"redis": {"external": null, "managed": {}}}}`)
	waitFor(t, "the CA volume, mount and variable gone", func() (bool, error) {
		get(t, d, ns, "demo-chat-server")
		return !trustsCA(d), nil
	})
}

// trustsCA: the pod template mounts a CA or names one in a variable.
func trustsCA(d *appsv1.Deployment) bool {
	pod := d.Spec.Template.Spec
	for _, v := range pod.Volumes {
		if strings.HasPrefix(v.Name, "ca-") {
			return true
		}
	}
	for _, m := range pod.Containers[0].VolumeMounts {
		if strings.HasPrefix(m.MountPath, "/etc/chatcluster/ca") {
			return true
		}
	}
	for _, e := range pod.Containers[0].Env {
		if strings.Contains(e.Name, "CA_FILE") {
			return true
		}
	}
	return false
}

func TestWhatTheMergingOperatorSetIsHandedOver(t *testing.T) {
	ns := newNamespace(t)
	cc, err := createNamed(t, ns, "demo", `{}`)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// An operator version that merged instead of applying wrote this
	// ConfigMap, with a key the current one no longer sets, as the manager
	// binary, under whose name the API server records such writes.
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: "demo-chat-server", Namespace: ns,
			Labels: map[string]string{
				"app.kubernetes.io/name": "chatcluster", "app.kubernetes.io/instance": "demo",
				"app.kubernetes.io/component": "chat-server", "app.kubernetes.io/managed-by": "chatcluster-operator",
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: chatv1.GroupVersion.String(), Kind: "ChatCluster", Name: "demo", UID: cc.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Data: map[string]string{"CHAT_CA_FILE": "/etc/chatcluster/ca/redis/ca.crt", "CHAT_ADDR": ":8080"},
	}
	if err := k8s.Create(ctx, cm, client.FieldOwner("manager")); err != nil {
		t.Fatal(err)
	}
	// Another client's key stays theirs.
	cm.Data["TEAM_NOTE"] = "hand-written"
	if err := k8s.Update(ctx, cm, client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the operator's apply to drop what it no longer sets", func() (bool, error) {
		get(t, cm, ns, "demo-chat-server")
		_, stale := cm.Data["CHAT_CA_FILE"]
		return !stale && cm.Data["CHAT_ADDR"] != "", nil
	})
	if cm.Data["TEAM_NOTE"] != "hand-written" {
		t.Errorf("the key another client set went: %v", cm.Data)
	}
	for _, mf := range cm.ManagedFields {
		if mf.Manager == "manager" {
			t.Errorf("fields still recorded for the merging operator: %+v", mf)
		}
	}
}

// reconcileDirect reconciles the ChatCluster demo of ns with r.
func reconcileDirect(t *testing.T, r reconcile.Reconciler, ns string) {
	t.Helper()
	if _, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: keyOf(ns, "demo")}); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
}

func TestTurningAutoscalingOnKeepsTheReplicas(t *testing.T) {
	ns := newNamespace(t)
	if _, err := createFromYAML(t, ns, `{replicas: 3}`); err != nil {
		t.Fatal(err)
	}
	d := &appsv1.Deployment{}
	waitFor(t, "the chat server at 3 replicas", func() (bool, error) {
		err := k8s.Get(context.Background(), keyOf(ns, "demo-chat-server"), d)
		return err == nil && ptr.Deref(d.Spec.Replicas, 0) == 3, client.IgnoreNotFound(err)
	})
	mergePatch(t, ns, `{"spec": {"autoscaling": {"enabled": true, "minReplicas": 2}}}`)
	waitFor(t, "the HorizontalPodAutoscaler", func() (bool, error) {
		err := k8s.Get(context.Background(), keyOf(ns, "demo-chat-server"), &autoscalingv2.HorizontalPodAutoscaler{})
		return err == nil, client.IgnoreNotFound(err)
	})
	// The operator wrote the Deployment before the autoscaler; no reconcile
	// is pending that could hide a drop.
	reconcileDirect(t, reconciler, ns)
	get(t, d, ns, "demo-chat-server")
	if got := ptr.Deref(d.Spec.Replicas, 0); got != 3 {
		t.Errorf("replicas = %d once autoscaling is on, want the 3 it had until the autoscaler decides", got)
	}

	// The autoscaler scales; the operator leaves it.
	scale := &autoscalingv1.Scale{}
	if err := k8s.SubResource("scale").Get(context.Background(), d, scale); err != nil {
		t.Fatal(err)
	}
	scale.Spec.Replicas = 6
	if err := k8s.SubResource("scale").Update(context.Background(), d, client.WithSubResourceBody(scale), client.FieldOwner("horizontal-pod-autoscaler")); err != nil {
		t.Fatal(err)
	}
	reconcileDirect(t, reconciler, ns)
	get(t, d, ns, "demo-chat-server")
	if got := ptr.Deref(d.Spec.Replicas, 0); got != 6 {
		t.Errorf("replicas = %d, want the autoscaler's 6", got)
	}
}
