//go:build envtest

package envtest

import (
	"context"
	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// storageClass creates a StorageClass of its own for one test.
func storageClass(t *testing.T, expandable bool) string {
	t.Helper()
	sc := &storagev1.StorageClass{
		ObjectMeta:           metav1.ObjectMeta{GenerateName: "chat-test-"},
		Provisioner:          "example.com/no-such-driver",
		AllowVolumeExpansion: ptr.To(expandable),
	}
	if err := k8s.Create(context.Background(), sc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), sc) })
	return sc.Name
}

// redisVolume plays the StatefulSet controller and the volume provisioner:
// it creates Redis's claim from the template, bound with the size it asks.
func redisVolume(t *testing.T, ns, class, size string) *corev1.PersistentVolumeClaim {
	t.Helper()
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data-demo-redis-0", Namespace: ns, Labels: map[string]string{
			"app.kubernetes.io/name": "chatcluster", "app.kubernetes.io/instance": "demo",
			"app.kubernetes.io/component": "redis", "app.kubernetes.io/managed-by": "chatcluster-operator",
		}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To(class),
			VolumeName:       "pv-" + ns,
			Resources: corev1.VolumeResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			},
		},
	}
	ctx := context.Background()
	if err := k8s.Create(ctx, pvc); err != nil {
		t.Fatal(err)
	}
	pvc.Status = corev1.PersistentVolumeClaimStatus{
		Phase:       corev1.ClaimBound,
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
	}
	if err := k8s.Status().Update(ctx, pvc); err != nil {
		t.Fatal(err)
	}
	return pvc
}

func TestALargerStorageExpandsTheVolume(t *testing.T) {
	ns := newNamespace(t)
	class := storageClass(t, true)
	if _, err := createFromYAML(t, ns, `{redis: {managed: {storage: 1Gi, storageClassName: `+class+`}}}`); err != nil {
		t.Fatal(err)
	}
	pvc := redisVolume(t, ns, class, "1Gi")
	conditionIs(t, ns, chatv1.ConditionStorageResized, metav1.ConditionTrue, chatv1.ReasonVolumesAsRequested)

	mergePatch(t, ns, `{"spec": {"redis": {"managed": {"storage": "2Gi"}}}}`)
	waitFor(t, "the claim to ask for 2Gi", func() (bool, error) {
		get(t, pvc, ns, "data-demo-redis-0")
		return pvc.Spec.Resources.Requests.Storage().String() == "2Gi", nil
	})
	conditionIs(t, ns, chatv1.ConditionStorageResized, metav1.ConditionFalse, chatv1.ReasonVolumeExpanding, "data-demo-redis-0", "2Gi")
	eventRecorded(t, ns, corev1.EventTypeNormal, "ExpandingVolume")
	if c := condition(t, ns, chatv1.ConditionDegraded); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("Degraded = %+v while a volume grows", c)
	}

	// The storage driver is done.
	pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")}
	if err := k8s.Status().Update(context.Background(), pvc); err != nil {
		t.Fatal(err)
	}
	conditionIs(t, ns, chatv1.ConditionStorageResized, metav1.ConditionTrue, chatv1.ReasonVolumesAsRequested)
}

func TestStorageThatCannotChangeIsReported(t *testing.T) {
	ns := newNamespace(t)
	class := storageClass(t, false)
	if _, err := createFromYAML(t, ns, `{redis: {managed: {storage: 1Gi, storageClassName: `+class+`}}}`); err != nil {
		t.Fatal(err)
	}
	pvc := redisVolume(t, ns, class, "1Gi")
	conditionIs(t, ns, chatv1.ConditionStorageResized, metav1.ConditionTrue, chatv1.ReasonVolumesAsRequested)

	mergePatch(t, ns, `{"spec": {"redis": {"managed": {"storage": "2Gi"}}}}`)
	conditionIs(t, ns, chatv1.ConditionStorageResized, metav1.ConditionFalse, chatv1.ReasonExpansionNotSupported,
		`StorageClass "`+class+`"`, "data-demo-redis-0", "spec.redis.managed.storage", "2Gi")
	conditionIs(t, ns, chatv1.ConditionRedisReady, metav1.ConditionFalse, "", `StorageClass "`+class+`"`)
	eventRecorded(t, ns, corev1.EventTypeWarning, chatv1.ReasonExpansionNotSupported)
	get(t, pvc, ns, "data-demo-redis-0")
	if got := pvc.Spec.Resources.Requests.Storage().String(); got != "1Gi" {
		t.Errorf("the claim asks for %s", got)
	}
	if c := condition(t, ns, chatv1.ConditionDegraded); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("Degraded = %+v, want False: Redis runs on the volume it has", c)
	}

	mergePatch(t, ns, `{"spec": {"redis": {"managed": {"storage": "512Mi"}}}}`)
	conditionIs(t, ns, chatv1.ConditionStorageResized, metav1.ConditionFalse, chatv1.ReasonShrinkNotSupported,
		"512Mi", "cannot shrink")

	mergePatch(t, ns, `{"spec": {"redis": {"managed": {"storage": "1Gi"}}}}`)
	conditionIs(t, ns, chatv1.ConditionStorageResized, metav1.ConditionTrue, chatv1.ReasonVolumesAsRequested)
}
