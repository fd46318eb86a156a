//go:build platform

package platform

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
	"github.com/chatcluster/chatcluster/test/platform/e2e"
)

// configHashAnnotation is the operator's hash of the configuration and
// Secrets on the pod templates.
const configHashAnnotation = "chat.chatcluster.io/config-hash"

func (p *platform) chatCluster(ctx context.Context) (*chatv1.ChatCluster, error) {
	cc := &chatv1.ChatCluster{}
	err := p.cluster.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, cc)
	return cc, err
}

// waitReady waits until the ChatCluster's status, for its current
// generation, says Ready.
func (p *platform) waitReady(t *testing.T, within time.Duration) {
	t.Helper()
	err := e2e.WaitFor(t.Context(), within, "ChatCluster chat/demo Ready", func(ctx context.Context) (bool, error) {
		cc, err := p.chatCluster(ctx)
		if err != nil {
			return false, err
		}
		c := meta.FindStatusCondition(cc.Status.Conditions, "Ready")
		switch {
		case c == nil:
			return false, fmt.Errorf("no Ready condition yet")
		case cc.Status.ObservedGeneration != cc.Generation || c.ObservedGeneration != cc.Generation:
			return false, fmt.Errorf("generation %d not observed yet (status has %d)", cc.Generation, cc.Status.ObservedGeneration)
		case c.Status != metav1.ConditionTrue:
			return false, fmt.Errorf("Ready=%s %s: %s", c.Status, c.Reason, c.Message)
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("ChatCluster Ready")
}

// configHash is the chat server's current pod-template hash.
func (p *platform) configHash(t *testing.T) string {
	t.Helper()
	d, err := p.cluster.Core.AppsV1().Deployments(namespace).Get(t.Context(), "demo-chat-server", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.Annotations[configHashAnnotation]
}

// waitRolledOut waits until the chat server's and the indexer's pods are
// exactly the Deployments' replicas, all on the current template, all
// Ready, and none terminating; with before set, until the chat server's
// template hash also differs from it.
func (p *platform) waitRolledOut(t *testing.T, before string) {
	t.Helper()
	for _, component := range []string{"chat-server", "indexer"} {
		deployment := "demo-" + component
		err := e2e.WaitFor(t.Context(), rolloutWithin, deployment+" rolled out", func(ctx context.Context) (bool, error) {
			d, err := p.cluster.Core.AppsV1().Deployments(namespace).Get(ctx, deployment, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			hash := d.Spec.Template.Annotations[configHashAnnotation]
			if component == "chat-server" && before != "" && hash == before {
				return false, fmt.Errorf("template hash still %s", before)
			}
			pods, err := p.componentPods(ctx, component)
			if err != nil {
				return false, err
			}
			return rolledOut(d, pods, hash)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Log("chat server and indexer rolled out")
}

func rolledOut(d *appsv1.Deployment, pods []corev1.Pod, hash string) (bool, error) {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	if len(pods) != int(want) {
		return false, fmt.Errorf("%s: %d pods, want %d", d.Name, len(pods), want)
	}
	for _, pod := range pods {
		switch {
		case pod.DeletionTimestamp != nil:
			return false, fmt.Errorf("%s: pod %s is terminating", d.Name, pod.Name)
		case pod.Annotations[configHashAnnotation] != hash:
			return false, fmt.Errorf("%s: pod %s is on an older template", d.Name, pod.Name)
		case !podReady(&pod):
			return false, fmt.Errorf("%s: pod %s is not Ready", d.Name, pod.Name)
		}
	}
	return true, nil
}

func (p *platform) componentPods(ctx context.Context, component string) ([]corev1.Pod, error) {
	sel := labels.SelectorFromSet(labels.Set{
		"app.kubernetes.io/instance": name, "app.kubernetes.io/component": component,
	})
	list, err := p.cluster.Core.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(list.Items, func(a, b corev1.Pod) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return list.Items, nil
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitGone waits until an object of the chat namespace no longer exists.
func (p *platform) waitGone(t *testing.T, kind, objName string) {
	t.Helper()
	p.kubectl(t, "", "-n", namespace, "wait", "--for=delete", kind+"/"+objName, fmt.Sprintf("--timeout=%ds", int(rolloutWithin.Seconds())))
}

// patch merge-patches the ChatCluster's spec.
func (p *platform) patch(t *testing.T, patch string) {
	t.Helper()
	cc := &chatv1.ChatCluster{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	if err := p.cluster.Client.Patch(t.Context(), cc, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatalf("patching the ChatCluster with %s: %v", patch, err)
	}
	t.Logf("ChatCluster patched: %s (generation %d)", patch, cc.Generation)
}

// writeRedisSecret creates or updates the external Redis Secret: the URL
// names the external host and a database, the password is its own key.
func (p *platform) writeRedisSecret(t *testing.T, db int) {
	t.Helper()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "redis-external"},
		StringData: map[string]string{
			"url":      fmt.Sprintf("redis://%s:%d/%d", externalRedis, p.redisPort, db),
			"password": p.redisPassword,
		},
	}
	secrets := p.cluster.Core.CoreV1().Secrets(namespace)
	_, err := secrets.Create(t.Context(), s, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = secrets.Update(t.Context(), s, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// requireRedisKeys checks that the chat servers keep their state in the
// external Redis's database db.
func (p *platform) requireRedisKeys(t *testing.T, db int) {
	t.Helper()
	rc := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", p.redisPort), Password: p.redisPassword, DB: db})
	defer rc.Close()
	n, err := rc.DBSize(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("the external Redis's database %d is empty: the chat servers do not use it", db)
	}
	t.Logf("external Redis database %d holds %d keys", db, n)
}
