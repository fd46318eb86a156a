package controllers

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
)

// backendState is what the reconciler observed of one backend.
type backendState struct {
	backend *backend
	managed bool
	ready   bool
	reason  string
	message string
	// secret is the external backend's Secret, when it exists.
	secret *corev1.Secret
}

func (s backendState) hasCA() bool {
	if s.secret == nil {
		return false
	}
	_, ok := s.secret.Data[caKey]
	return ok
}

// observeSecret judges an external backend by its Secret (nil when missing):
// it must exist, hold the required keys, and their values must have the
// form the chat server reads.
func observeSecret(b *backend, name string, secret *corev1.Secret) backendState {
	s := backendState{backend: b, secret: secret}
	if secret == nil {
		s.reason = chatv1.ReasonSecretMissing
		s.message = fmt.Sprintf("Secret %q for %s not found", name, b.name)
		return s
	}
	if missing := b.missing(secret); missing != "" {
		s.reason = chatv1.ReasonSecretKeyMissing
		s.message = fmt.Sprintf("Secret %q for %s %s", name, b.name, missing)
		return s
	}
	if key, want := invalidValue(b, secret.Data); key != "" {
		s.reason = chatv1.ReasonSecretInvalid
		s.message = invalidMessage(name, b.name, key, want)
		return s
	}
	s.ready = true
	s.reason = chatv1.ReasonSecretValid
	s.message = fmt.Sprintf("Secret %q for %s has the required keys", name, b.name)
	return s
}

// observeStatefulSet judges a managed backend by its StatefulSet.
func observeStatefulSet(b *backend, sts *appsv1.StatefulSet) backendState {
	s := backendState{backend: b, managed: true}
	want := ptr.Deref(sts.Spec.Replicas, 1)
	if sts.Status.ObservedGeneration >= sts.Generation && sts.Status.ReadyReplicas >= want {
		s.ready = true
		s.reason = chatv1.ReasonStatefulSetReady
		s.message = fmt.Sprintf("StatefulSet %s is ready", sts.Name)
		return s
	}
	s.reason = chatv1.ReasonStatefulSetNotReady
	s.message = fmt.Sprintf("StatefulSet %s has %d of %d replicas ready", sts.Name, sts.Status.ReadyReplicas, want)
	return s
}

// deploymentAvailable: the rollout is done and every desired replica is available.
func deploymentAvailable(d *appsv1.Deployment) (bool, string) {
	want := ptr.Deref(d.Spec.Replicas, 1)
	st := d.Status
	msg := fmt.Sprintf("Deployment %s has %d of %d replicas available", d.Name, st.AvailableReplicas, want)
	if st.ObservedGeneration < d.Generation {
		return false, fmt.Sprintf("Deployment %s has not yet observed its latest spec", d.Name)
	}
	if st.UpdatedReplicas < want || st.AvailableReplicas < want || st.Replicas > st.UpdatedReplicas {
		if st.Replicas > st.UpdatedReplicas {
			msg += fmt.Sprintf(", %d of %d updated", st.UpdatedReplicas, st.Replicas)
		}
		return false, msg
	}
	return true, msg
}

// observation is what one reconcile saw, from which the status is computed.
type observation struct {
	backends   []backendState
	chatServer *appsv1.Deployment
	indexer    *appsv1.Deployment
	// problems are the errors pods and Deployments report (observeProblems).
	problems []problem
	// volumes are the managed backends' volumes (resizeVolume).
	volumes []volumeState
	// images are the images each component is set to run.
	images map[string]string
}

// computeStatus derives the status from what the reconcile observed. It
// starts from the current status so that conditions that did not flip keep
// their lastTransitionTime.
func computeStatus(cc *chatv1.ChatCluster, obs observation) chatv1.ChatClusterStatus {
	st := *cc.Status.DeepCopy()
	st.ObservedGeneration = cc.Generation
	st.Replicas = obs.chatServer.Status.Replicas
	st.ReadyReplicas = obs.chatServer.Status.ReadyReplicas
	st.Endpoint = endpoint(cc)
	st.Images = obs.images
	meta.RemoveStatusCondition(&st.Conditions, chatv1.ConditionPaused)
	set := func(t string, ok bool, reason, message string) {
		status := metav1.ConditionFalse
		if ok {
			status = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: t, Status: status, Reason: reason, Message: message, ObservedGeneration: cc.Generation,
		})
	}

	var waiting, broken []string
	var degradedReason string
	for _, w := range []struct {
		condition string
		deploy    *appsv1.Deployment
	}{{chatv1.ConditionChatServerAvailable, obs.chatServer}, {chatv1.ConditionIndexerAvailable, obs.indexer}} {
		available, msg := deploymentAvailable(w.deploy)
		if available {
			set(w.condition, true, chatv1.ReasonReplicasAvailable, msg)
			continue
		}
		set(w.condition, false, chatv1.ReasonReplicasUnavailable, msg)
		waiting = append(waiting, msg)
	}
	if available, _ := deploymentAvailable(obs.chatServer); available {
		st.Version = cc.Spec.Version
		if st.Version == "" {
			st.Version = "0.1.0"
		}
	}

	volumeNotes := map[string]string{}
	for _, v := range obs.volumes {
		if !v.ok {
			volumeNotes[v.backend.name] = v.message
		}
	}
	for _, s := range obs.backends {
		msg := s.message
		if note := volumeNotes[s.backend.name]; note != "" {
			msg += "; " + note
		}
		set(s.backend.condition, s.ready, s.reason, msg)
		switch {
		case s.ready:
		case s.managed:
			waiting = append(waiting, s.message)
		default:
			broken = append(broken, s.message)
			if degradedReason == "" {
				degradedReason = s.reason
			}
		}
	}
	for _, p := range obs.problems {
		broken = append(broken, p.message)
		if degradedReason == "" {
			degradedReason = p.reason
		}
	}

	setVolumeCondition(set, obs.volumes)
	if len(broken) > 0 {
		set(chatv1.ConditionDegraded, true, degradedReason, strings.Join(broken, "; "))
	} else {
		set(chatv1.ConditionDegraded, false, chatv1.ReasonAsExpected, "no external backend Secret, pod or rollout reports an error")
	}
	switch {
	case len(waiting) > 0:
		set(chatv1.ConditionProgressing, true, chatv1.ReasonRollingOut, strings.Join(waiting, "; "))
	case len(broken) > 0:
		set(chatv1.ConditionProgressing, false, chatv1.ReasonWaitingForFix, "waiting for the errors Degraded names to be fixed")
	default:
		set(chatv1.ConditionProgressing, false, chatv1.ReasonRolloutComplete, "every component is rolled out")
	}
	if notReady := append(append([]string{}, broken...), waiting...); len(notReady) > 0 {
		set(chatv1.ConditionReady, false, chatv1.ReasonComponentsNotReady, strings.Join(notReady, "; "))
	} else {
		set(chatv1.ConditionReady, true, chatv1.ReasonAllComponentsReady, "the chat server, the indexer and every backend are ready")
	}
	return st
}
