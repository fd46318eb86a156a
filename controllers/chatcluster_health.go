package controllers

import (
	"context"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
)

// problem is an error a component reports: a Degraded reason and a
// message that names the object and what to do.
type problem struct {
	reason  string
	message string
}

// failingWaitReasons are the reasons a container waits for that do not
// go away without a fix, and the Degraded reason each gives.
var failingWaitReasons = map[string]string{
	"ImagePullBackOff":           chatv1.ReasonImagePullFailed,
	"ErrImagePull":               chatv1.ReasonImagePullFailed,
	"InvalidImageName":           chatv1.ReasonInvalidImageName,
	"CrashLoopBackOff":           chatv1.ReasonCrashLoopBackOff,
	"CreateContainerConfigError": chatv1.ReasonCreateContainerConfigError,
	"CreateContainerError":       chatv1.ReasonCreateContainerError,
}

// watched is a component whose pods the operator looks at.
type watched struct {
	component string
	object    string // e.g. "Deployment demo-chat-server"
	fix       string // the spec fields that decide its pods
	deploy    *appsv1.Deployment
}

// observeProblems looks for the errors that keep a component from running:
// a container waiting on an image it cannot pull, crash-looping or unable to
// start, and a Deployment past its progress deadline. It reports at most
// one pod per component. An error listing pods is logged and skipped: it
// must not stop the reconcile, and the next one looks again.
func (r *ChatClusterReconciler) observeProblems(ctx context.Context, cc *chatv1.ChatCluster, obs observation) []problem {
	workloads := []watched{
		{componentChatServer, "Deployment " + chatServerName(cc),
			"check spec.version, spec.image and spec.imagePullSecrets", obs.chatServer},
		{componentIndexer, "Deployment " + cc.Name + "-" + componentIndexer,
			"check spec.version, spec.image and spec.imagePullSecrets", obs.indexer},
	}
	for _, s := range obs.backends {
		if s.managed {
			workloads = append(workloads, watched{
				s.backend.name, "StatefulSet " + cc.Name + "-" + s.backend.name,
				fmt.Sprintf("check spec.%s.managed.image, spec.%s.managed.resources and spec.imagePullSecrets", s.backend.name, s.backend.name),
				nil,
			})
		}
	}
	var problems []problem
	for _, w := range workloads {
		if p, ok := r.podProblem(ctx, cc, w); ok {
			problems = append(problems, p)
		}
		if p, ok := deadlineExceeded(cc, w); ok {
			problems = append(problems, p)
		}
	}
	return problems
}

// podProblem reports the first failing container of the component's pods,
// in the order of their names.
func (r *ChatClusterReconciler) podProblem(ctx context.Context, cc *chatv1.ChatCluster, w watched) (problem, bool) {
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(cc.Namespace), client.MatchingLabels(selectorLabels(cc, w.component))); err != nil {
		log.FromContext(ctx).Error(err, "list pods", "component", w.component)
		return problem{}, false
	}
	sort.Slice(pods.Items, func(i, j int) bool { return pods.Items[i].Name < pods.Items[j].Name })
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.DeletionTimestamp != nil {
			continue
		}
		for _, cs := range containerStatuses(pod) {
			if cs.State.Waiting == nil {
				continue
			}
			if reason, failing := failingWaitReasons[cs.State.Waiting.Reason]; failing {
				return problem{reason: reason, message: describeFailure(cc, w, pod, cs, reason)}, true
			}
		}
	}
	return problem{}, false
}

func containerStatuses(pod *corev1.Pod) []corev1.ContainerStatus {
	return append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
}

// describeFailure says what fails and what to do. It leaves out what changes
// from one try to the next (back-off delays, pull attempts), so that the
// status is not rewritten while nothing changes.
func describeFailure(cc *chatv1.ChatCluster, w watched, pod *corev1.Pod, cs corev1.ContainerStatus, reason string) string {
	where := fmt.Sprintf("%s: container %s of pod %s", w.object, cs.Name, pod.Name)
	switch reason {
	case chatv1.ReasonImagePullFailed:
		return fmt.Sprintf("%s cannot pull image %q: check that the image exists and that the pull secrets grant access to it; %s",
			where, cs.Image, w.fix)
	case chatv1.ReasonInvalidImageName:
		return fmt.Sprintf("%s has an invalid image name %q; %s", where, cs.Image, w.fix)
	case chatv1.ReasonCrashLoopBackOff:
		last := ""
		if t := cs.LastTerminationState.Terminated; t != nil {
			last = fmt.Sprintf(" (last exit code %d", t.ExitCode)
			if t.Reason != "" {
				last += ", " + t.Reason
			}
			last += ")"
		}
		hint := fmt.Sprintf("read its logs: kubectl -n %s logs %s -c %s --previous", cc.Namespace, pod.Name, cs.Name)
		if t := cs.LastTerminationState.Terminated; t != nil && t.Reason == "OOMKilled" {
			hint = "it ran out of memory: raise its memory limit"
		}
		return fmt.Sprintf("%s keeps crashing%s: %s; %s", where, last, hint, w.fix)
	default: // CreateContainerConfigError, CreateContainerError
		return fmt.Sprintf("%s cannot start: %s: check the Secrets and ConfigMaps it references",
			where, truncate(cs.State.Waiting.Message, 200))
	}
}

// deadlineExceeded reports a Deployment whose rollout stopped progressing.
func deadlineExceeded(cc *chatv1.ChatCluster, w watched) (problem, bool) {
	if w.deploy == nil || w.deploy.Status.ObservedGeneration < w.deploy.Generation {
		return problem{}, false
	}
	for _, c := range w.deploy.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == chatv1.ReasonProgressDeadlineExceeded {
			return problem{reason: chatv1.ReasonProgressDeadlineExceeded, message: fmt.Sprintf(
				"%s did not finish its rollout within its progress deadline (%s): see why its new pods do not become ready with kubectl -n %s describe pods -l app.kubernetes.io/instance=%s,app.kubernetes.io/component=%s",
				w.object, strings.TrimSuffix(c.Message, "."), cc.Namespace, cc.Name, w.component)}, true
		}
	}
	return problem{}, false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// podProblemsChanged lets through the pod events that may change what
// observeProblems finds: a pod created or deleted, or a container that
// starts or stops waiting for a failing reason. Readiness reaches the
// operator through the Deployments and StatefulSets it owns.
var podProblemsChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return failingContainers(e.ObjectOld) != failingContainers(e.ObjectNew)
	},
}

func failingContainers(obj client.Object) string {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return ""
	}
	var out []string
	for _, cs := range containerStatuses(pod) {
		if cs.State.Waiting != nil {
			if reason, failing := failingWaitReasons[cs.State.Waiting.Reason]; failing {
				out = append(out, cs.Name+"="+reason)
			}
		}
	}
	return strings.Join(out, ",")
}
