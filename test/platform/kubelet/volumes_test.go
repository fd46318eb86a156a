package kubelet

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func TestSetupVolumes(t *testing.T) {
	state := t.TempDir()
	pvDir := filepath.Join(state, "pv-0")
	client := fake.NewClientset(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s"},
			Data: map[string][]byte{"ca.crt": []byte("PEM"), "other": []byte("x")}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cm"}, Data: map[string]string{"a": "1"}},
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "bound", UID: "c1"},
			Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-0"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}},
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "pending"}},
		&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-0"},
			Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: pvDir}}}},
	)
	pod := func(vols ...corev1.Volume) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Spec: corev1.PodSpec{Volumes: vols}}
	}
	ctx := context.Background()
	dir := filepath.Join(state, "pods", "u1")
	vols, err := setupVolumes(ctx, client, state, pod(
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "ca", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: "s", Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "certs/ca.crt", Mode: ptr.To[int32](0o400)}}}}},
		corev1.Volume{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}},
		corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "bound"}}},
	), dir)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(vols["scratch"].path); err != nil || st.Mode().Perm() != 0o777 {
		t.Errorf("emptyDir: %v, %v; want a 0777 directory", st, err)
	}
	if b, err := os.ReadFile(filepath.Join(vols["ca"].path, "certs/ca.crt")); err != nil || string(b) != "PEM" || !vols["ca"].readOnly {
		t.Errorf("secret item: %q, %v, read-only %v", b, err, vols["ca"].readOnly)
	}
	if st, _ := os.Stat(filepath.Join(vols["ca"].path, "certs/ca.crt")); st == nil || st.Mode().Perm() != 0o400 {
		t.Errorf("secret item mode: %v, want 0400", st)
	}
	if _, err := os.Stat(filepath.Join(vols["ca"].path, "other")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a key not in items was written: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(vols["conf"].path, "a")); err != nil || string(b) != "1" {
		t.Errorf("configMap key: %q, %v", b, err)
	}
	if vols["data"].path != pvDir {
		t.Errorf("claim at %s, want the hostPath volume's %s", vols["data"].path, pvDir)
	}
	if st, err := os.Stat(filepath.Join(pvDir, "lost+found")); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("a new claim directory lacks lost+found (0700): %v, %v", st, err)
	}

	for name, v := range map[string]corev1.Volume{
		"ClaimNotBound":   {Name: "v", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "pending"}}},
		"ClaimMissing":    {Name: "v", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "none"}}},
		"SecretMissing":   {Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "none"}}},
		"UnsupportedType": {Name: "v", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "s", Path: "/"}}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := setupVolumes(ctx, client, state, pod(v), dir)
			var me *mountError
			if !errors.As(err, &me) {
				t.Errorf("err = %v, want a mount error (the pod waits and the kubelet retries)", err)
			}
		})
	}
	if _, err := setupVolumes(ctx, client, state, pod(corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{
		Secret: &corev1.SecretVolumeSource{SecretName: "none", Optional: ptr.To(true)}}}), dir); err != nil {
		t.Errorf("an optional missing Secret: %v", err)
	}
}
