package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
)

const (
	// UpgradeBackendsAnnotation on a ChatCluster moves its managed backends
	// to the operator's pinned images. The operator removes it once they
	// are set and recorded in status.images.
	UpgradeBackendsAnnotation = "chat.chatcluster.io/upgrade-backends"
	// backendSpecAnnotation on a backend's StatefulSet holds a hash of the
	// backend's managed block as last applied, so that a change to it shows.
	backendSpecAnnotation = "chat.chatcluster.io/backend-spec-hash"
)

// backendImage is the image to run b with: the operator's pinned image,
// except that a managed backend keeps the image it runs (recorded in
// status.images, or read from its StatefulSet) when the operator's pinned
// image changed, for instance across an operator upgrade. It moves to the
// pinned image when its managed block changes or the ChatCluster carries
// UpgradeBackendsAnnotation. spec.<backend>.managed.image, when set, wins
// over both (the builder applies it).
func (r *ChatClusterReconciler) backendImage(cc *chatv1.ChatCluster, b *backend, live *appsv1.StatefulSet) string {
	pinned := b.image(r.Images)
	if _, upgrade := cc.Annotations[UpgradeBackendsAnnotation]; upgrade {
		return pinned
	}
	if live != nil {
		if hash := live.Annotations[backendSpecAnnotation]; hash != "" && hash != backendSpecHash(cc, b) {
			return pinned
		}
	}
	recorded := cc.Status.Images[b.name]
	if recorded == "" && live != nil {
		recorded = containerImage(live.Spec.Template.Spec.Containers, b.name)
	}
	if recorded != "" {
		return recorded
	}
	return pinned
}

// backendSpecHash hashes the managed block of b's spec.
func backendSpecHash(cc *chatv1.ChatCluster, b *backend) string {
	managed := b.spec(&cc.Spec).Managed
	if managed == nil {
		managed = &chatv1.ManagedBackend{}
	}
	data, err := json.Marshal(managed)
	if err != nil {
		// A ManagedBackend always marshals; should it not, the hash
		// changes and the backend moves to the pinned image.
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])[:16]
}

func containerImage(containers []corev1.Container, name string) string {
	for _, c := range containers {
		if c.Name == name {
			return c.Image
		}
	}
	return ""
}

// finishBackendUpgrade removes UpgradeBackendsAnnotation once the status
// records the images the backends moved to: from then on they keep them.
// It is called after the status was written, so that a failure in between
// cannot bring the backends back to the images they had.
func (r *ChatClusterReconciler) finishBackendUpgrade(ctx context.Context, cc *chatv1.ChatCluster) error {
	if _, ok := cc.Annotations[UpgradeBackendsAnnotation]; !ok {
		return nil
	}
	var moved []string
	for _, b := range backends {
		if img := cc.Status.Images[b.name]; img != "" {
			moved = append(moved, b.name+"="+img)
		}
	}
	sort.Strings(moved)
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:null}}}`, UpgradeBackendsAnnotation)
	if err := r.Patch(ctx, cc, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return client.IgnoreNotFound(err)
	}
	r.Recorder.Eventf(cc, nil, corev1.EventTypeNormal, "BackendsUpgraded", "UpgradeBackends",
		"Managed backends set to the operator's images (%s); removed the annotation %s",
		strings.Join(moved, ", "), UpgradeBackendsAnnotation)
	return nil
}
