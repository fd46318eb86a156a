package kubelet

import (
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func statusWorker(policy corev1.RestartPolicy, states ...corev1.ContainerStatus) (*podWorker, *corev1.Pod) {
	k := &Kubelet{hostIP: "127.0.0.1", podIPs: newAddressBook(netip.MustParsePrefix("10.244.0.0/16"))}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1", Generation: 2},
		Spec:       corev1.PodSpec{RestartPolicy: policy},
		Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
		}},
	}
	w := &podWorker{k: k, uid: pod.UID, pod: pod, restartPolicy: policy}
	for _, s := range states {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: s.Name})
		w.runners = append(w.runners, &runner{w: w, spec: corev1.Container{Name: s.Name}, status: s})
	}
	return w, pod
}

func running(name string, ready bool, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, Ready: ready, RestartCount: restarts,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func waiting(name, reason string, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, RestartCount: restarts,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
}

func terminated(name string, code int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
}

func condition(st corev1.PodStatus, t corev1.PodConditionType) corev1.PodCondition {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c
		}
	}
	return corev1.PodCondition{}
}

func TestBuildStatus(t *testing.T) {
	now := time.Unix(1000, 0)
	for name, tc := range map[string]struct {
		policy      corev1.RestartPolicy
		sandbox     bool
		terminal    bool
		states      []corev1.ContainerStatus
		phase       corev1.PodPhase
		ready       bool
		readyReason string
		podIP       bool
	}{
		"NoSandboxYet": {states: []corev1.ContainerStatus{waiting("a", "ContainerCreating", 0)},
			phase: corev1.PodPending, readyReason: "ContainersNotReady"},
		"ImageNeverPulled": {sandbox: true, states: []corev1.ContainerStatus{waiting("a", "ImagePullBackOff", 0)},
			phase: corev1.PodPending, readyReason: "ContainersNotReady", podIP: true},
		"RunningAndReady": {sandbox: true, states: []corev1.ContainerStatus{running("a", true, 0), running("b", true, 0)},
			phase: corev1.PodRunning, ready: true, podIP: true},
		"OneNotReady": {sandbox: true, states: []corev1.ContainerStatus{running("a", true, 0), running("b", false, 0)},
			phase: corev1.PodRunning, readyReason: "ContainersNotReady", podIP: true},
		"CrashLoopBackOff": {sandbox: true, states: []corev1.ContainerStatus{waiting("a", "CrashLoopBackOff", 3)},
			phase: corev1.PodRunning, readyReason: "ContainersNotReady", podIP: true},
		"NeverRestartedAndSucceeded": {policy: corev1.RestartPolicyNever, sandbox: true, states: []corev1.ContainerStatus{terminated("a", 0)},
			phase: corev1.PodSucceeded, readyReason: "PodCompleted", podIP: true},
		"StoppedForDeletion": {sandbox: true, terminal: true, states: []corev1.ContainerStatus{terminated("a", 0), terminated("b", 143)},
			phase: corev1.PodFailed, readyReason: "PodCompleted", podIP: true},
	} {
		t.Run(name, func(t *testing.T) {
			w, pod := statusWorker(tc.policy, tc.states...)
			w.status.sandboxReady, w.status.terminal = tc.sandbox, tc.terminal
			st := w.buildStatus(pod, now)
			if st.Phase != tc.phase {
				t.Errorf("phase %s, want %s", st.Phase, tc.phase)
			}
			r := condition(st, corev1.PodReady)
			if (r.Status == corev1.ConditionTrue) != tc.ready || r.Reason != tc.readyReason || r.ObservedGeneration != 2 {
				t.Errorf("Ready = %+v, want ready %v reason %q at generation 2", r, tc.ready, tc.readyReason)
			}
			if condition(st, corev1.PodScheduled).Status != corev1.ConditionTrue {
				t.Error("PodScheduled was not kept")
			}
			if (st.PodIP != "") != tc.podIP {
				t.Errorf("podIP %q, want one: %v", st.PodIP, tc.podIP)
			}
			if len(st.ContainerStatuses) != len(tc.states) {
				t.Errorf("%d container statuses, want %d", len(st.ContainerStatuses), len(tc.states))
			}
		})
	}
}

func TestBuildStatusTransitionTimes(t *testing.T) {
	w, pod := statusWorker("", running("a", false, 0))
	w.status.sandboxReady = true
	t0 := time.Unix(1000, 0)
	first := condition(w.buildStatus(pod, t0), corev1.PodReady)
	again := condition(w.buildStatus(pod, t0.Add(time.Minute)), corev1.PodReady)
	if !again.LastTransitionTime.Equal(&first.LastTransitionTime) {
		t.Errorf("the transition time moved without a flip: %v then %v", first.LastTransitionTime, again.LastTransitionTime)
	}
	w.runners[0].status.Ready = true
	flipped := condition(w.buildStatus(pod, t0.Add(2*time.Minute)), corev1.PodReady)
	if flipped.Status != corev1.ConditionTrue || !flipped.LastTransitionTime.Time.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("after turning ready: %+v", flipped)
	}
}
