package kubelet

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
)

// defaultPath is the PATH of a container whose image and spec set none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// configError is a container configuration that cannot be resolved (a
// missing Secret or key); the container waits with CreateContainerConfigError.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func configErrorf(format string, args ...any) error {
	return &configError{fmt.Sprintf(format, args...)}
}

// containerEnv returns the environment of a container of pod as the
// container runtime would give it: the image's variables, HOSTNAME, then
// envFrom in order and env in order, each later one winning, with $(VAR)
// references to earlier variables expanded. ConfigMaps and Secrets are
// read from the API, as the kubelet does when it starts a container.
func containerEnv(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, c *corev1.Container, img Image) (map[string]string, error) {
	objs := newPodObjects(client, pod.Namespace)
	env := map[string]string{"PATH": defaultPath, "HOME": "/"}
	maps.Copy(env, img.Env)
	env["HOSTNAME"] = podHostname(pod)

	for _, from := range c.EnvFrom {
		ref := objectRef{}
		switch {
		case from.ConfigMapRef != nil:
			ref = objectRef{name: from.ConfigMapRef.Name, optional: isOptional(from.ConfigMapRef.Optional)}
		case from.SecretRef != nil:
			ref = objectRef{secret: true, name: from.SecretRef.Name, optional: isOptional(from.SecretRef.Optional)}
		default:
			continue
		}
		data, _, err := objs.object(ctx, ref, configErrorf)
		if err != nil {
			return nil, err
		}
		for _, k := range slices.Sorted(maps.Keys(data)) {
			env[from.Prefix+k] = string(data[k])
		}
	}
	lookup := func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = expand(e.Value, lookup)
			continue
		}
		v, ok, err := valueFrom(ctx, objs, pod, e.ValueFrom)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if ok {
			env[e.Name] = v
		}
	}
	return env, nil
}

// valueFrom resolves one variable's source; ok is false when an optional
// source is missing, and the variable is then not set at all.
func valueFrom(ctx context.Context, objs *podObjects, pod *corev1.Pod, src *corev1.EnvVarSource) (value string, ok bool, err error) {
	var ref objectRef
	var key string
	switch {
	case src.ConfigMapKeyRef != nil:
		s := src.ConfigMapKeyRef
		ref, key = objectRef{name: s.Name, optional: isOptional(s.Optional)}, s.Key
	case src.SecretKeyRef != nil:
		s := src.SecretKeyRef
		ref, key = objectRef{secret: true, name: s.Name, optional: isOptional(s.Optional)}, s.Key
	case src.FieldRef != nil:
		v, err := fieldValue(pod, src.FieldRef.FieldPath)
		return v, err == nil, err
	default:
		return "", false, configErrorf("only configMapKeyRef, secretKeyRef and fieldRef are supported by this kubelet")
	}
	data, found, err := objs.object(ctx, ref, configErrorf)
	if err != nil || !found {
		return "", false, err
	}
	if v, ok := data[key]; ok {
		return string(v), true, nil
	}
	if ref.optional {
		return "", false, nil
	}
	return "", false, configErrorf("couldn't find key %s in %s %s/%s", key, ref.title(), pod.Namespace, ref.name)
}

// fieldValue is the downward API for environment variables.
func fieldValue(pod *corev1.Pod, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return pod.Status.PodIP, nil
	case "status.hostIP", "status.hostIPs":
		return pod.Status.HostIP, nil
	}
	for prefix, m := range map[string]map[string]string{
		"metadata.labels['": pod.Labels, "metadata.annotations['": pod.Annotations,
	} {
		if key, ok := strings.CutPrefix(path, prefix); ok && strings.HasSuffix(key, "']") {
			return m[strings.TrimSuffix(key, "']")], nil
		}
	}
	return "", configErrorf("fieldRef %s is not supported by this kubelet", path)
}

func isOptional(b *bool) bool { return b != nil && *b }

// expand replaces $(NAME) with NAME's value when lookup knows it, and $$ with
// $, leaving every other reference as written: Kubernetes' rules for env
// values, command and args.
func expand(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch next := s[i+1]; {
		case next == '$':
			b.WriteByte('$')
			i++
		case next == '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
