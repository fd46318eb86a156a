package controllers

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestCacheOptionsSelectTheOperatorsObjects(t *testing.T) {
	opts := CacheOptions("chat")
	if _, ok := opts.DefaultNamespaces["chat"]; !ok || len(opts.DefaultNamespaces) != 1 {
		t.Errorf("namespaces %v", opts.DefaultNamespaces)
	}
	ours := k8slabels.Set{"app.kubernetes.io/managed-by": "chatcluster-operator"}
	theirs := k8slabels.Set{"app": "else"}
	kinds := map[string]bool{}
	for obj, by := range opts.ByObject {
		kinds[typeName(obj)] = true
		if by.Label == nil || !by.Label.Matches(ours) || by.Label.Matches(theirs) {
			t.Errorf("%s: selector %v", typeName(obj), by.Label)
		}
	}
	for _, want := range []string{"Secret", "ConfigMap", "Deployment", "StatefulSet", "Service", "Pod", "PersistentVolumeClaim"} {
		if !kinds[want] {
			t.Errorf("%s is cached without a selector", want)
		}
	}
	if len(CacheOptions("").DefaultNamespaces) != 0 {
		t.Error("an empty namespace restricts the cache")
	}
}

func TestSecretMetadataKeepsOnlyWhatNamesTheSecret(t *testing.T) {
	in := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Name: "s", Namespace: "chat", UID: "u", ResourceVersion: "7",
		Labels:        map[string]string{"a": "b"},
		Annotations:   map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"data":{"password":"aHVudGVyMg=="}}`},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
	}}
	out, err := keepOnlyIdentity(in)
	if err != nil {
		t.Fatal(err)
	}
	m := out.(*metav1.PartialObjectMetadata)
	if m.Name != "s" || m.Namespace != "chat" || m.UID != "u" || m.ResourceVersion != "7" {
		t.Errorf("identity lost: %+v", m.ObjectMeta)
	}
	if m.Annotations != nil || m.Labels != nil || m.ManagedFields != nil {
		t.Errorf("kept more than the identity: %+v", m.ObjectMeta)
	}
	if _, err := keepOnlyIdentity(&corev1.Secret{}); err != nil {
		t.Error(err)
	}
}

func typeName(obj client.Object) string { return reflect.TypeOf(obj).Elem().Name() }
