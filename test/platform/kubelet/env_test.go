package kubelet

import (
	"context"
	"errors"
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "B": "b"}
	lookup := func(n string) (string, bool) { v, ok := vars[n]; return v, ok }
	for in, want := range map[string]string{
		"plain":      "plain",
		"$(A)-$(B)":  "a-b",
		"$$(A)":      "$(A)",
		"$(UNKNOWN)": "$(UNKNOWN)",
		"$(A":        "$(A",
		"cost $5":    "cost $5",
		"end$":       "end$",
		"x$(A)$(A)y": "xaay",
	} {
		if got := expand(in, lookup); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestContainerEnv(t *testing.T) {
	client := fake.NewClientset(
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "settings"},
			Data: map[string]string{"CHAT_ADDR": ":8080", "MODE": "cm"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "creds"},
			Data: map[string][]byte{"password": []byte("s3cret"), "url": []byte("redis://r:6379")}},
	)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p-1", Labels: map[string]string{"app": "chat"}}}
	optional := ptr.To(true)
	ref := func(name, key string, opt *bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: opt}}
	}
	c := &corev1.Container{
		EnvFrom: []corev1.EnvFromSource{
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}},
			{Prefix: "S_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}},
			{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Optional: optional}},
		},
		Env: []corev1.EnvVar{
			{Name: "MODE", Value: "env wins over $(MODE)"},
			{Name: "PASSWORD", ValueFrom: ref("creds", "password", nil)},
			{Name: "OPTIONAL_KEY", ValueFrom: ref("creds", "nope", optional)},
			{Name: "OPTIONAL_SECRET", ValueFrom: ref("absent", "x", optional)},
			{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
		},
	}
	env, err := containerEnv(context.Background(), client, pod, c, Image{Env: map[string]string{"IMAGE": "yes"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"PATH": defaultPath, "HOME": "/", "HOSTNAME": "p-1", "IMAGE": "yes",
		"CHAT_ADDR": ":8080", "MODE": "env wins over cm", "S_password": "s3cret", "S_url": "redis://r:6379",
		"PASSWORD": "s3cret", "POD": "p-1", "APP": "chat",
	}
	if !maps.Equal(env, want) {
		t.Errorf("env = %v\nwant  %v", env, want)
	}

	for name, v := range map[string]corev1.EnvVar{
		"MissingSecret": {Name: "X", ValueFrom: ref("absent", "x", nil)},
		"MissingKey":    {Name: "X", ValueFrom: ref("creds", "nope", nil)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := containerEnv(context.Background(), client, pod, &corev1.Container{Env: []corev1.EnvVar{v}}, Image{})
			var ce *configError
			if !errors.As(err, &ce) {
				t.Errorf("err = %v, want a configuration error", err)
			}
		})
	}
}
