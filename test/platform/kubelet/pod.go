package kubelet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// resync is how often a pod's status is written even without a change
// notice, should a write have failed.
const resync = 10 * time.Second

// podWorker runs one pod from its admission to its removal: it creates the
// sandbox, runs a runner per container, writes the pod's status, and when
// the pod is deleted stops the containers within the grace period, removes
// the sandbox and deletes the pod object with grace 0.
type podWorker struct {
	k             *Kubelet
	uid           types.UID
	log           *slog.Logger
	restartPolicy corev1.RestartPolicy
	kick          chan struct{}

	mu      sync.Mutex
	pod     *corev1.Pod // the newest seen
	gone    bool        // the pod left the API (or this node)
	sb      *sandbox
	runners []*runner

	// Owned by run.
	status statusWriter
}

func newPodWorker(k *Kubelet, pod *corev1.Pod) *podWorker {
	return &podWorker{
		k: k, uid: pod.UID, pod: pod, restartPolicy: pod.Spec.RestartPolicy,
		log:  k.log.With("pod", pod.Namespace+"/"+pod.Name),
		kick: make(chan struct{}, 1),
	}
}

// update hands the worker a newer pod.
func (w *podWorker) update(pod *corev1.Pod) {
	w.mu.Lock()
	w.pod = pod
	w.mu.Unlock()
	w.notify()
}

// removed tells the worker that the pod left the API: it stops the pod
// within the grace period of the last version seen.
func (w *podWorker) removed() {
	w.mu.Lock()
	w.gone = true
	w.mu.Unlock()
	w.notify()
}

// notify asks the worker to look at the pod and its containers again.
func (w *podWorker) notify() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// current is the newest version of the pod seen.
func (w *podWorker) current() *corev1.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod
}

// deleted reports whether the pod is being deleted or gone.
func (w *podWorker) deleted() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gone || w.pod.DeletionTimestamp != nil
}

func (w *podWorker) isGone() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gone
}

// terminationGrace is the pod's grace period for stopping a container.
func (w *podWorker) terminationGrace() time.Duration {
	p := w.current()
	if p.DeletionGracePeriodSeconds != nil {
		return time.Duration(*p.DeletionGracePeriodSeconds) * time.Second
	}
	return time.Duration(derefInt64(p.Spec.TerminationGracePeriodSeconds, 30)) * time.Second
}

func (w *podWorker) event(eventType, reason, format string, args ...any) {
	if !w.isGone() {
		w.k.recorder.Eventf(w.current(), eventType, reason, format, args...)
	}
}

// run is the pod's lifetime. When ctx ends (the kubelet stops) the
// containers are stopped and the sandbox removed, but the pod stays in the
// API as it is.
func (w *podWorker) run(ctx context.Context) {
	w.syncStatus(ctx)
	sb := w.createSandbox(ctx)
	if sb == nil {
		if ctx.Err() == nil {
			w.finish(ctx)
		}
		return
	}

	var wg sync.WaitGroup
	rctx, stopRunners := context.WithCancel(context.Background())
	defer stopRunners()
	for _, c := range w.current().Spec.Containers {
		r := newRunner(w, sb, c)
		w.mu.Lock()
		w.runners = append(w.runners, r)
		w.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.run(rctx)
		}()
	}
	stop := func(grace time.Duration) {
		for _, r := range w.runners {
			r.stopGrace.Store(int64(grace / time.Second))
		}
		stopRunners()
		wg.Wait()
	}

	t := time.NewTicker(resync)
	defer t.Stop()
	for !w.deleted() {
		w.syncStatus(ctx)
		select {
		case <-w.kick:
		case <-t.C:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			stop(min(w.terminationGrace(), w.k.shutdownGrace))
			w.removeSandbox(context.Background(), sb)
			return
		}
	}
	grace := w.terminationGrace()
	w.log.Info("stopping pod", "grace", grace)
	stop(grace)
	w.removeSandbox(ctx, sb)
	w.finish(ctx)
}

// createSandbox sets the pod's sandbox up, retrying (volumes whose claim is
// not bound yet, a missing Secret) until it works or the pod is deleted.
func (w *podWorker) createSandbox(ctx context.Context) *sandbox {
	retry := backoff{initial: time.Second, max: 30 * time.Second}
	for !w.deleted() {
		if d := retry.wait(time.Now()); !sleep(ctx, d) {
			return nil
		}
		retry.started(time.Now())
		sb, err := w.k.createSandbox(ctx, w.current())
		if err == nil {
			w.k.nw.add(ctx, sb)
			w.mu.Lock()
			w.sb = sb
			w.mu.Unlock()
			w.status.sandboxReady = true
			return sb
		}
		var me *mountError
		if errors.As(err, &me) {
			w.event(corev1.EventTypeWarning, "FailedMount", "MountVolume.SetUp failed: %v", err)
		} else {
			w.event(corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
		}
		w.log.Warn("cannot set the pod up yet", "err", err)
		if ctx.Err() != nil {
			return nil
		}
	}
	return nil
}

func (w *podWorker) removeSandbox(ctx context.Context, sb *sandbox) {
	w.k.nw.remove(ctx, sb.uid)
	if err := sb.destroy(); err != nil {
		w.log.Error("removing the pod's sandbox", "err", err)
	}
}

// finish writes the pod's final status and deletes the pod object once its
// processes are gone, as the kubelet does after a graceful deletion.
func (w *podWorker) finish(ctx context.Context) {
	if w.isGone() {
		return
	}
	pod := w.current()
	w.status.terminal = true
	w.syncStatus(ctx)
	err := w.k.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptrTo[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &w.uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		w.log.Error("deleting the pod", "err", err)
		return
	}
	w.log.Info("pod removed")
}

// info describes the pod for the kubelet's HTTP endpoint.
func (w *podWorker) info() (PodInfo, bool) {
	w.mu.Lock()
	sb, gone, runners := w.sb, w.gone, w.runners
	w.mu.Unlock()
	if gone || sb == nil {
		return PodInfo{}, false
	}
	pi := PodInfo{
		Namespace: sb.namespace, Name: sb.name, UID: sb.uid, IP: sb.ip.String(), NetNS: sb.ns.name,
		Forwards: w.k.nw.forwardsOf(sb.uid), Logs: map[string]string{},
	}
	for _, r := range runners {
		pi.Logs[r.spec.Name] = r.logPath
		s := r.snapshot()
		pi.Containers = append(pi.Containers, ContainerInfo{Name: s.Name, Ready: s.Ready, Restarts: s.RestartCount, State: stateName(s.State)})
	}
	return pi, true
}

// PodInfo is what the kubelet's /pods endpoint tells about a running pod.
type PodInfo struct {
	Namespace  string            `json:"namespace"`
	Name       string            `json:"name"`
	UID        types.UID         `json:"uid"`
	IP         string            `json:"ip"`
	NetNS      string            `json:"netns"`
	Forwards   []Forward         `json:"forwards"`
	Logs       map[string]string `json:"logs"` // container name to log file
	Containers []ContainerInfo   `json:"containers"`
}

// ContainerInfo is a container's state in PodInfo.
type ContainerInfo struct {
	Name     string `json:"name"`
	Ready    bool   `json:"ready"`
	Restarts int32  `json:"restarts"`
	State    string `json:"state"`
}

func stateName(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "Running"
	case s.Terminated != nil:
		return fmt.Sprintf("Terminated (%s, exit code %d)", s.Terminated.Reason, s.Terminated.ExitCode)
	case s.Waiting != nil:
		return "Waiting (" + s.Waiting.Reason + ")"
	}
	return ""
}
