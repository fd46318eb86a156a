//go:build platform

package kubelet

import (
	"context"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
)

// runContainer runs one container of a pod in a fresh sandbox until
// check says so, then stops it, and returns the statuses seen.
func runContainer(t *testing.T, c corev1.Container, check func(corev1.ContainerStatus) bool) corev1.ContainerStatus {
	t.Helper()
	tl, err := findTools()
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	k := &Kubelet{
		client: fake.NewClientset(), stateDir: state, tools: tl, log: slog.New(slog.DiscardHandler),
		images: Images{
			"docker.io/library/sh":    {Program: "/bin/sh", User: 65532},
			"docker.io/library/false": {Program: "/bin/false", User: 65532},
		},
		backoffInitial: 200 * time.Millisecond, backoffMax: time.Second,
		recorder: record.NewFakeRecorder(1000), podIPs: newAddressBook(netip.MustParsePrefix("10.244.0.0/16")),
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "t", Name: "p", UID: "u"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{c}, TerminationGracePeriodSeconds: new(int64)},
	}
	w := newPodWorker(k, pod)
	sb := &sandbox{uid: pod.UID, namespace: "t", name: "p", hostname: "p", ns: testNetNS(t, "10.244.254.1"), dir: filepath.Join(state, "pods", "u")}
	r := newRunner(w, sb, c)
	if err := makeStateDirs(state); err != nil {
		t.Fatal(err)
	}

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.run(ctx)
	}()
	defer func() {
		stop()
		wg.Wait()
	}()
	deadline := time.After(time.Minute)
	for {
		s := r.snapshot()
		if check(s) {
			return s
		}
		select {
		case <-w.kick:
		case <-deadline:
			t.Fatalf("not within a minute; last status %+v", s)
		}
	}
}

func TestRunnerRestartsACrashingContainerWithBackOff(t *testing.T) {
	sawBackOff := false
	s := runContainer(t, corev1.Container{Name: "c", Image: "false"}, func(s corev1.ContainerStatus) bool {
		if w := s.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
			sawBackOff = true
		}
		return sawBackOff && s.RestartCount >= 2
	})
	if lt := s.LastTerminationState.Terminated; lt == nil || lt.ExitCode != 1 || lt.Reason != "Error" {
		t.Errorf("last state %+v, want terminated with code 1, reason Error", s.LastTerminationState)
	}
}

func TestRunnerRestartsOnFailedLivenessProbe(t *testing.T) {
	c := corev1.Container{Name: "c", Image: "sh", Args: []string{"-c", "exec sleep 600"},
		LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(1)}},
			PeriodSeconds: 1, FailureThreshold: 1}}
	s := runContainer(t, c, func(s corev1.ContainerStatus) bool { return s.RestartCount >= 1 && s.State.Running != nil })
	if lt := s.LastTerminationState.Terminated; lt == nil || lt.Signal == 0 {
		t.Errorf("last state %+v, want killed by a signal", s.LastTerminationState)
	}
}

func TestRunnerReadinessFromProbe(t *testing.T) {
	c := corev1.Container{Name: "c", Image: "sh", Args: []string{"-c", "exec sleep 600"},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-d", "/proc/self"}}},
			PeriodSeconds: 1}}
	runContainer(t, c, func(s corev1.ContainerStatus) bool { return s.Ready && s.State.Running != nil })
}

func TestRunnerUnknownImage(t *testing.T) {
	seen := map[string]bool{}
	runContainer(t, corev1.Container{Name: "c", Image: "nginx"}, func(s corev1.ContainerStatus) bool {
		if w := s.State.Waiting; w != nil {
			seen[w.Reason] = true
		}
		return seen["ErrImagePull"] && seen["ImagePullBackOff"]
	})
}
