package kubelet

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestContainerIdentity(t *testing.T) {
	img := Image{User: 999}
	for name, tc := range map[string]struct {
		pod  *corev1.PodSecurityContext
		c    *corev1.SecurityContext
		want identity
		fail bool
	}{
		"TheImagesUser": {want: identity{uid: 999, gid: 999}},
		"ThePodsUserAndFSGroup": {
			pod:  &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](65532), RunAsGroup: ptr.To[int64](65533), FSGroup: ptr.To[int64](2000), SupplementalGroups: []int64{3000, 2000}},
			want: identity{uid: 65532, gid: 65533, groups: []int64{2000, 3000}},
		},
		"TheContainerWins": {
			pod:  &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1)},
			c:    &corev1.SecurityContext{RunAsUser: ptr.To[int64](2)},
			want: identity{uid: 2, gid: 999},
		},
		"RunAsNonRootRefusesRoot": {
			pod:  &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](0), RunAsNonRoot: ptr.To(true)},
			fail: true,
		},
	} {
		t.Run(name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: tc.pod}}
			got, err := containerIdentity(pod, &corev1.Container{SecurityContext: tc.c}, img)
			var ce *configError
			if tc.fail {
				if !errors.As(err, &ce) {
					t.Fatalf("err = %v, want a configuration error", err)
				}
				return
			}
			if err != nil || got.uid != tc.want.uid || got.gid != tc.want.gid || !slices.Equal(got.groups, tc.want.groups) {
				t.Errorf("identity = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestContainerMounts(t *testing.T) {
	dir := t.TempDir()
	sb := &sandbox{volumes: map[string]volume{
		"tmp":    {path: filepath.Join(dir, "tmp")},
		"data":   {path: filepath.Join(dir, "data")},
		"secret": {path: filepath.Join(dir, "secret"), readOnly: true},
	}}
	c := &corev1.Container{VolumeMounts: []corev1.VolumeMount{
		{Name: "data", MountPath: "/var/lib/app/"},
		{Name: "secret", MountPath: "/etc/app/ca"},
		{Name: "tmp", MountPath: "/tmp"},
		{Name: "data", MountPath: "/srv/logs", SubPath: "logs", ReadOnly: true},
	}}
	got, err := containerMounts(sb, c)
	if err != nil {
		t.Fatal(err)
	}
	want := []bindMount{
		{source: filepath.Join(dir, "secret"), target: "/etc/app/ca", readOnly: true},
		{source: filepath.Join(dir, "data", "logs"), target: "/srv/logs", readOnly: true},
		{source: filepath.Join(dir, "tmp"), target: "/tmp"},
		{source: filepath.Join(dir, "data"), target: "/var/lib/app"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("mounts = %+v\nwant %+v", got, want)
	}
	if st, err := os.Stat(filepath.Join(dir, "data", "logs")); err != nil || !st.IsDir() {
		t.Errorf("the subPath directory was not made: %v", err)
	}
	for _, m := range []corev1.VolumeMount{{Name: "nope", MountPath: "/x"}, {Name: "data", MountPath: "/x", SubPath: "../escape"}} {
		if _, err := containerMounts(sb, &corev1.Container{VolumeMounts: []corev1.VolumeMount{m}}); err == nil {
			t.Errorf("mount %+v was accepted", m)
		}
	}
}

func TestAProgramUnderAVolumeIsFoundThroughItsOwnMount(t *testing.T) {
	mounts := []bindMount{{source: "/state/tmp", target: "/tmp"}, {source: "/state/data", target: "/var/lib/chatcluster/"}}
	for program, hidden := range map[string]bool{
		"/tmp/ci/bin/platform/chatserver":    true,
		"/tmp":                               true,
		"/var/lib/chatcluster/x":             true,
		"/tmpfoo/chatserver":                 false,
		"/work/main/bin/platform/chatserver": false,
		"/usr/bin/redis-server":              false,
	} {
		if got := hiddenBy(program, mounts); got != hidden {
			t.Errorf("hiddenBy(%s) = %v, want %v", program, got, hidden)
		}
	}
}
