package kubelet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// statusWriter is what a pod worker remembers between status writes.
type statusWriter struct {
	sandboxReady bool
	terminal     bool // the containers were stopped for good
	startTime    *metav1.Time
	conditions   map[corev1.PodConditionType]corev1.PodCondition
	last         []byte // the last patch written
}

// podConditions are the conditions the kubelet owns, in the order it writes them.
var podConditions = []corev1.PodConditionType{
	corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady,
}

// syncStatus writes the pod's status when it differs from the last written:
// one merge patch of the status subresource.
func (w *podWorker) syncStatus(ctx context.Context) {
	if w.isGone() {
		return
	}
	pod := w.current()
	body, err := json.Marshal(map[string]any{"status": w.buildStatus(pod, time.Now())})
	if err != nil {
		w.log.Error("encoding the pod's status", "err", err)
		return
	}
	if bytes.Equal(body, w.status.last) {
		return
	}
	_, err = w.k.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, body, metav1.PatchOptions{}, "status")
	if err != nil {
		if !apierrors.IsNotFound(err) && ctx.Err() == nil {
			w.log.Warn("writing the pod's status", "err", err)
		}
		return
	}
	w.status.last = body
}

// buildStatus is the pod's status as the kubelet reports it.
func (w *podWorker) buildStatus(pod *corev1.Pod, now time.Time) corev1.PodStatus {
	s := &w.status
	if s.startTime == nil {
		s.startTime = pod.Status.StartTime
		if s.startTime == nil {
			s.startTime = ptrTo(metav1.NewTime(now))
		}
	}
	w.mu.Lock()
	runners := w.runners
	w.mu.Unlock()
	statuses := make([]corev1.ContainerStatus, 0, len(pod.Spec.Containers))
	byName := map[string]*runner{}
	for _, r := range runners {
		byName[r.spec.Name] = r
	}
	for _, c := range pod.Spec.Containers {
		if r, ok := byName[c.Name]; ok {
			statuses = append(statuses, r.snapshot())
			continue
		}
		statuses = append(statuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, Started: ptrTo(false),
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}},
		})
	}
	slices.SortFunc(statuses, func(a, b corev1.ContainerStatus) int { return strings.Compare(a.Name, b.Name) })

	var unready []string
	for _, cs := range statuses {
		if !cs.Ready {
			unready = append(unready, cs.Name)
		}
	}
	phase := w.phase(statuses)
	completed := s.terminal || phase == corev1.PodSucceeded || phase == corev1.PodFailed
	containersReady := len(unready) == 0 && s.sandboxReady && !completed
	reason, msg := "", ""
	switch {
	case completed:
		reason = "PodCompleted"
	case !containersReady:
		reason, msg = "ContainersNotReady", fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	}
	want := map[corev1.PodConditionType]bool{
		corev1.PodReadyToStartContainers: s.sandboxReady && !completed,
		corev1.PodInitialized:            true,
		corev1.ContainersReady:           containersReady,
		corev1.PodReady:                  containersReady && gatesPass(pod),
	}
	if s.conditions == nil {
		s.conditions = map[corev1.PodConditionType]corev1.PodCondition{}
	}
	var conds []corev1.PodCondition
	for _, c := range pod.Status.Conditions {
		if !slices.Contains(podConditions, c.Type) {
			conds = append(conds, c)
		}
	}
	for _, t := range podConditions {
		status := corev1.ConditionFalse
		if want[t] {
			status = corev1.ConditionTrue
		}
		c, ok := s.conditions[t]
		if !ok || c.Status != status {
			c = corev1.PodCondition{Type: t, Status: status, LastTransitionTime: metav1.NewTime(now)}
		}
		c.ObservedGeneration = pod.Generation
		c.Reason, c.Message = "", ""
		if status == corev1.ConditionFalse && (t == corev1.ContainersReady || t == corev1.PodReady) {
			c.Reason, c.Message = reason, msg
		}
		s.conditions[t] = c
		conds = append(conds, c)
	}

	st := corev1.PodStatus{
		ObservedGeneration: pod.Generation,
		Phase:              phase,
		Conditions:         conds,
		HostIP:             w.k.hostIP,
		HostIPs:            []corev1.HostIP{{IP: w.k.hostIP}},
		StartTime:          s.startTime,
		ContainerStatuses:  statuses,
		QOSClass:           pod.Status.QOSClass,
	}
	if s.sandboxReady {
		ip, _ := w.k.podIPs.get(string(pod.UID))
		st.PodIP = ip.String()
		st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	}
	return st
}

// phase is Pending until a container has started, Running after, and
// Succeeded or Failed once every container has ended for good.
func (w *podWorker) phase(statuses []corev1.ContainerStatus) corev1.PodPhase {
	if !w.status.sandboxReady && !w.status.terminal {
		return corev1.PodPending
	}
	allEnded, allZero, started := true, true, false
	for _, cs := range statuses {
		t := cs.State.Terminated
		if cs.State.Running != nil || t != nil || cs.RestartCount > 0 {
			started = true
		}
		ended := t != nil && (w.status.terminal || w.restartPolicy == corev1.RestartPolicyNever ||
			(w.restartPolicy == corev1.RestartPolicyOnFailure && t.ExitCode == 0))
		allEnded = allEnded && ended
		allZero = allZero && t != nil && t.ExitCode == 0
	}
	switch {
	case w.status.terminal || (allEnded && len(statuses) > 0):
		if allZero {
			return corev1.PodSucceeded
		}
		return corev1.PodFailed
	case started:
		return corev1.PodRunning
	}
	return corev1.PodPending
}

// gatesPass reports whether every readiness gate's condition is True.
func gatesPass(pod *corev1.Pod) bool {
	for _, g := range pod.Spec.ReadinessGates {
		ok := false
		for _, c := range pod.Status.Conditions {
			if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
