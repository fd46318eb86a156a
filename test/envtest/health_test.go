//go:build envtest

package envtest

import (
	"context"
	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatcluster/chatcluster/controllers"
)

// conditionIs waits for the condition typ of demo to have status and reason
// and a message that contains every one of parts.
func conditionIs(t *testing.T, ns, typ string, status metav1.ConditionStatus, reason string, parts ...string) *metav1.Condition {
	t.Helper()
	var c *metav1.Condition
	waitFor(t, typ+"="+string(status)+" "+reason, func() (bool, error) {
		c = condition(t, ns, typ)
		if c == nil || c.Status != status || (reason != "" && c.Reason != reason) {
			return false, nil
		}
		for _, p := range parts {
			if !strings.Contains(c.Message, p) {
				return false, nil
			}
		}
		return true, nil
	})
	return c
}

// eventRecorded waits for an event about demo with reason and type.
func eventRecorded(t *testing.T, ns, typ, reason string) *eventsv1.Event {
	t.Helper()
	var found *eventsv1.Event
	waitFor(t, "a "+typ+" event "+reason, func() (bool, error) {
		var list eventsv1.EventList
		if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return false, err
		}
		for i, e := range list.Items {
			if e.Regarding.Name == "demo" && e.Reason == reason && e.Type == typ {
				found = &list.Items[i]
				return true, nil
			}
		}
		return false, nil
	})
	return found
}

// componentPod creates a pod of a component of demo, as its Deployment or
// StatefulSet would, with the status the kubelet would report.
func componentPod(t *testing.T, ns, name, component string, status corev1.PodStatus) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
			"app.kubernetes.io/name": "chatcluster", "app.kubernetes.io/instance": "demo",
			"app.kubernetes.io/component": component, "app.kubernetes.io/managed-by": "chatcluster-operator",
		}},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false),
			Containers:                   []corev1.Container{{Name: component, Image: "example.invalid/" + component + ":1"}},
		},
	}
	ctx := context.Background()
	if err := k8s.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status = status
	if err := k8s.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	return pod
}

func waiting(container, image, reason, message string) corev1.PodStatus {
	return corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
		Name: container, Image: image,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}},
	}}}
}

func TestReadyWaitsForTheIndexer(t *testing.T) {
	ns := newNamespace(t)
	if _, err := createFromYAML(t, ns, `{}`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the indexer's Deployment", func() (bool, error) {
		err := k8s.Get(context.Background(), keyOf(ns, "demo-indexer"), &appsv1.Deployment{})
		return err == nil, client.IgnoreNotFound(err)
	})
	markWorkloadsReady(t, ns)
	indexer := &appsv1.Deployment{}
	get(t, indexer, ns, "demo-indexer")
	indexer.Status.AvailableReplicas, indexer.Status.ReadyReplicas = 0, 0
	if err := k8s.Status().Update(context.Background(), indexer); err != nil {
		t.Fatal(err)
	}
	conditionIs(t, ns, chatv1.ConditionIndexerAvailable, metav1.ConditionFalse, chatv1.ReasonReplicasUnavailable, "demo-indexer")
	conditionIs(t, ns, chatv1.ConditionReady, metav1.ConditionFalse, chatv1.ReasonComponentsNotReady, "demo-indexer")
	conditionIs(t, ns, chatv1.ConditionChatServerAvailable, metav1.ConditionTrue, "")

	markWorkloadsReady(t, ns)
	conditionIs(t, ns, chatv1.ConditionReady, metav1.ConditionTrue, chatv1.ReasonAllComponentsReady)
	conditionIs(t, ns, chatv1.ConditionIndexerAvailable, metav1.ConditionTrue, chatv1.ReasonReplicasAvailable)
}

func TestFailingPodsDegradeThenRecover(t *testing.T) {
	ns := newNamespace(t)
	if _, err := createFromYAML(t, ns, `{version: 9.9.9}`); err != nil {
		t.Fatal(err)
	}
	image := "ghcr.io/chatcluster/chatserver:9.9.9"
	pod := componentPod(t, ns, "demo-chat-server-7d9f-abcde", "chat-server",
		waiting("chat-server", image, "ErrImagePull", "rpc error: manifest unknown"))
	c := conditionIs(t, ns, chatv1.ConditionDegraded, metav1.ConditionTrue, chatv1.ReasonImagePullFailed,
		"Deployment demo-chat-server", pod.Name, `"`+image+`"`, "spec.version")
	eventRecorded(t, ns, corev1.EventTypeWarning, chatv1.ReasonImagePullFailed)

	// The kubelet alternates ErrImagePull and ImagePullBackOff: the status
	// must not follow.
	pod.Status = waiting("chat-server", image, "ImagePullBackOff", `Back-off pulling image "`+image+`"`)
	if err := k8s.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	redis := componentPod(t, ns, "demo-redis-0", "redis", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "redis", Image: controllers.DefaultImages.Redis,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}},
	}}})
	after := conditionIs(t, ns, chatv1.ConditionDegraded, metav1.ConditionTrue, chatv1.ReasonImagePullFailed,
		"StatefulSet demo-redis", "demo-redis-0", "keeps crashing", "exit code 137", "memory limit", "spec.redis.managed")
	if !strings.HasPrefix(after.Message, c.Message) {
		t.Errorf("the image pull message changed with the kubelet's retries:\n%s\n%s", c.Message, after.Message)
	}
	if c := condition(t, ns, chatv1.ConditionReady); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("Ready = %+v with failing pods", c)
	}

	// Fixed: the pods run.
	running := func(p *corev1.Pod) {
		for i := range p.Status.ContainerStatuses {
			p.Status.ContainerStatuses[i].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
		}
		p.Status.Phase = corev1.PodRunning
		if err := k8s.Status().Update(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	running(pod)
	running(redis)
	conditionIs(t, ns, chatv1.ConditionDegraded, metav1.ConditionFalse, chatv1.ReasonAsExpected)
}

func TestProgressDeadlineExceededDegrades(t *testing.T) {
	ns := newNamespace(t)
	if _, err := createFromYAML(t, ns, `{}`); err != nil {
		t.Fatal(err)
	}
	d := &appsv1.Deployment{}
	waitFor(t, "the indexer's Deployment", func() (bool, error) {
		err := k8s.Get(context.Background(), keyOf(ns, "demo-indexer"), d)
		return err == nil, client.IgnoreNotFound(err)
	})
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, Conditions: []appsv1.DeploymentCondition{{
		Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded",
		Message: `ReplicaSet "demo-indexer-5f7c" has timed out progressing.`,
	}}}
	if err := k8s.Status().Update(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	conditionIs(t, ns, chatv1.ConditionDegraded, metav1.ConditionTrue, chatv1.ReasonProgressDeadlineExceeded,
		"Deployment demo-indexer", "timed out progressing", "kubectl")
}
