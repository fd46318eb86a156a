package kubelet

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// podObjects reads the ConfigMaps and Secrets a pod's environment or
// volumes refer to, straight from the API as the kubelet does when it sets
// a pod or container up, each once per setup.
type podObjects struct {
	client     kubernetes.Interface
	namespace  string
	configMaps map[string]map[string][]byte
	secrets    map[string]map[string][]byte
}

func newPodObjects(client kubernetes.Interface, namespace string) *podObjects {
	return &podObjects{client: client, namespace: namespace,
		configMaps: map[string]map[string][]byte{}, secrets: map[string]map[string][]byte{}}
}

// configMap returns a ConfigMap's data and binary data, or found false.
func (o *podObjects) configMap(ctx context.Context, name string) (data map[string][]byte, found bool, err error) {
	return cached(ctx, o.configMaps, name, func(ctx context.Context) (map[string][]byte, error) {
		cm, err := o.client.CoreV1().ConfigMaps(o.namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
		for k, v := range cm.Data {
			data[k] = []byte(v)
		}
		for k, v := range cm.BinaryData {
			data[k] = v
		}
		return data, nil
	})
}

// secret returns a Secret's data, or found false.
func (o *podObjects) secret(ctx context.Context, name string) (data map[string][]byte, found bool, err error) {
	return cached(ctx, o.secrets, name, func(ctx context.Context) (map[string][]byte, error) {
		s, err := o.client.CoreV1().Secrets(o.namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return s.Data, nil
	})
}

// object reads one Secret's or ConfigMap's data by its reference: a
// missing one is an error unless optional (then found is false).
func (o *podObjects) object(ctx context.Context, ref objectRef, wrap func(format string, args ...any) error) (map[string][]byte, bool, error) {
	read := o.configMap
	if ref.secret {
		read = o.secret
	}
	data, found, err := read(ctx, ref.name)
	switch {
	case err != nil:
		return nil, false, err
	case !found && !ref.optional:
		return nil, false, wrap("%s %q not found", ref.kind(), ref.name)
	}
	return data, found, nil
}

// objectRef names a Secret or a ConfigMap of the pod's namespace.
type objectRef struct {
	secret   bool
	name     string
	optional bool
}

func (r objectRef) kind() string {
	if r.secret {
		return "secret"
	}
	return "configmap"
}

func (r objectRef) title() string {
	if r.secret {
		return "Secret"
	}
	return "ConfigMap"
}

// cached gets name once; a name that does not exist is remembered as such.
func cached(ctx context.Context, cache map[string]map[string][]byte, name string, get func(context.Context) (map[string][]byte, error)) (map[string][]byte, bool, error) {
	if data, ok := cache[name]; ok {
		return data, data != nil, nil
	}
	data, err := get(ctx)
	if apierrors.IsNotFound(err) {
		cache[name] = nil
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if data == nil {
		data = map[string][]byte{}
	}
	cache[name] = data
	return data, true, nil
}

// keyToPaths picks the items of an object's data: the listed keys (a
// missing one is an error unless optional) or, without a list, every key
// at its own name.
func keyToPaths(data map[string][]byte, items []corev1.KeyToPath, optional bool, wrap func(format string, args ...any) error) (map[string]projectedFile, error) {
	files := map[string]projectedFile{}
	if len(items) == 0 {
		for k, v := range data {
			files[k] = projectedFile{data: v}
		}
		return files, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, wrap("key %q not found", it.Key)
		}
		files[it.Path] = projectedFile{data: v, mode: it.Mode}
	}
	return files, nil
}

// projectedFile is a file of a Secret, ConfigMap, projected or downward
// API volume; a nil mode takes the volume's default mode.
type projectedFile struct {
	data []byte
	mode *int32
}
