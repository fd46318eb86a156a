package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
)

const (
	// PauseAnnotation set to "paused" on a ChatCluster stops the operator
	// from touching it or anything it owns; removing it resumes.
	PauseAnnotation = "chat.chatcluster.io/reconcile"
	pausedValue     = "paused"
)

func paused(cc *chatv1.ChatCluster) bool {
	return cc.Annotations[PauseAnnotation] == pausedValue
}

// pause records in the status, and in an event, that the ChatCluster is not
// reconciled. Every other condition, Ready included, keeps what it said
// when reconciling stopped, for the generation it was computed for.
func (r *ChatClusterReconciler) pause(ctx context.Context, cc *chatv1.ChatCluster) error {
	st := cc.Status.DeepCopy()
	wasPaused := meta.IsStatusConditionTrue(st.Conditions, chatv1.ConditionPaused)
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: chatv1.ConditionPaused, Status: metav1.ConditionTrue, Reason: chatv1.ReasonReconcilePaused,
		Message: fmt.Sprintf("the operator leaves this ChatCluster and its objects alone while it carries the annotation %s=%s; remove it to resume",
			PauseAnnotation, pausedValue),
		ObservedGeneration: cc.Generation,
	})
	if equality.Semantic.DeepEqual(cc.Status, *st) {
		return nil
	}
	before := cc.DeepCopy()
	cc.Status = *st
	if err := r.Status().Patch(ctx, cc, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !wasPaused {
		r.Recorder.Eventf(cc, nil, corev1.EventTypeNormal, chatv1.ReasonReconcilePaused, "Reconcile",
			"Reconciling paused by the annotation %s=%s", PauseAnnotation, pausedValue)
	}
	return nil
}
