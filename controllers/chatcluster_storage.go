package controllers

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
)

// volumeState is how a managed backend's data volume compares with the
// size its spec asks for.
type volumeState struct {
	backend *backend
	ok      bool
	reason  string
	message string
}

// volumeClaimName is the PersistentVolumeClaim the StatefulSet controller
// makes for the backend's only pod from the "data" claim template.
func volumeClaimName(cc *chatv1.ChatCluster, b *backend) string {
	return fmt.Sprintf("data-%s-%s-0", cc.Name, b.name)
}

// wantedStorage is the size spec.<backend>.managed.storage asks for, or the
// backend's default.
func wantedStorage(cc *chatv1.ChatCluster, b *backend) resource.Quantity {
	if m := b.spec(&cc.Spec).Managed; m != nil && m.Storage != nil && !m.Storage.IsZero() {
		return *m.Storage
	}
	return resource.MustParse(b.defaultStorage)
}

// resizeVolume grows the managed backend's volume claim to the size its
// spec asks for, which the StatefulSet's claim template, immutable, cannot
// do. It patches the claim's request when the claim is bound and its
// StorageClass allows expansion; the storage driver does the rest. A shrink,
// or a class without allowVolumeExpansion, is reported, not attempted. A
// claim that does not exist yet (the StatefulSet controller makes it) is
// left to the claim template.
func (r *ChatClusterReconciler) resizeVolume(ctx context.Context, cc *chatv1.ChatCluster, b *backend) (volumeState, error) {
	v := volumeState{backend: b, ok: true, reason: chatv1.ReasonVolumesAsRequested}
	name := volumeClaimName(cc, b)
	pvc := &corev1.PersistentVolumeClaim{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: cc.Namespace, Name: name}, pvc); err != nil {
		return v, client.IgnoreNotFound(err)
	}
	want := wantedStorage(cc, b)
	has := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	field := fmt.Sprintf("spec.%s.managed.storage", b.name)
	notOK := func(reason, format string, args ...any) (volumeState, error) {
		v.ok, v.reason, v.message = false, reason, fmt.Sprintf(format, args...)
		return v, nil
	}

	switch want.Cmp(has) {
	case 0:
		capacity, known := pvc.Status.Capacity[corev1.ResourceStorage]
		if known && capacity.Cmp(has) < 0 && pvc.Status.Phase == corev1.ClaimBound {
			return notOK(chatv1.ReasonVolumeExpanding, "PVC %s is being expanded from %s to %s by its storage driver",
				name, capacity.String(), has.String())
		}
		return v, nil
	case -1:
		return notOK(chatv1.ReasonShrinkNotSupported,
			"%s asks for %s but PVC %s has %s, and a volume cannot shrink: set %s back to %s or more",
			field, want.String(), name, has.String(), field, has.String())
	}

	class := ptr.Deref(pvc.Spec.StorageClassName, "")
	if class == "" {
		return notOK(chatv1.ReasonExpansionNotSupported,
			"%s asks for %s but PVC %s (%s) has no StorageClass, so it cannot be expanded: set %s back to %s",
			field, want.String(), name, has.String(), field, has.String())
	}
	sc := &storagev1.StorageClass{}
	switch err := r.apiReader().Get(ctx, client.ObjectKey{Name: class}, sc); {
	case err == nil:
		if !ptr.Deref(sc.AllowVolumeExpansion, false) {
			return notOK(chatv1.ReasonExpansionNotSupported,
				"%s asks for %s but PVC %s stays at %s: StorageClass %q does not allow volume expansion (allowVolumeExpansion is not true); set %s back to %s, or move the data to a new volume",
				field, want.String(), name, has.String(), class, field, has.String())
		}
	case apierrors.IsNotFound(err), apierrors.IsForbidden(err):
		// Without the class, the API server decides below.
	default:
		return v, err
	}
	if pvc.Status.Phase != corev1.ClaimBound {
		return notOK(chatv1.ReasonVolumeNotBound, "PVC %s is %s, not bound: it is expanded to %s once bound",
			name, strings.ToLower(string(pvc.Status.Phase)), want.String())
	}

	before := pvc.DeepCopy()
	pvc.Spec.Resources.Requests[corev1.ResourceStorage] = want
	if err := r.Patch(ctx, pvc, client.MergeFrom(before), client.FieldOwner(FieldOwner)); err != nil {
		if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) {
			return notOK(chatv1.ReasonExpansionNotSupported, "%s asks for %s but PVC %s stays at %s: %v",
				field, want.String(), name, has.String(), err)
		}
		return v, err
	}
	r.Recorder.Eventf(cc, nil, corev1.EventTypeNormal, "ExpandingVolume", "ResizeVolume",
		"Expanding PVC %s from %s to %s", name, has.String(), want.String())
	return notOK(chatv1.ReasonVolumeExpanding, "PVC %s is being expanded from %s to %s by its storage driver",
		name, has.String(), want.String())
}

// setVolumeCondition sets StorageResized from the volumes' states: True
// when every managed backend's volume has the size its spec asks for, False
// with the first problem's reason and every problem otherwise. It never
// makes the ChatCluster Degraded nor not Ready: the backends keep running
// on the volumes they have.
func setVolumeCondition(set func(t string, ok bool, reason, message string), volumes []volumeState) {
	var reason string
	var msgs []string
	for _, v := range volumes {
		if v.ok {
			continue
		}
		if reason == "" {
			reason = v.reason
		}
		msgs = append(msgs, v.message)
	}
	if reason == "" {
		set(chatv1.ConditionStorageResized, true, chatv1.ReasonVolumesAsRequested, "every managed backend's volume has the size its spec asks for")
		return
	}
	set(chatv1.ConditionStorageResized, false, reason, strings.Join(msgs, "; "))
}
