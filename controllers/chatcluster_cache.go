package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// managedByLabel and managedByValue mark every object the operator creates,
// and the pods and volumes its workloads create from their templates.
const (
	managedByLabel = "app.kubernetes.io/managed-by"
	managedByValue = "chatcluster-operator"
)

// cachedKinds are the kinds the operator reads through its cache: what it
// owns, and the pods and volume claims of its workloads.
func cachedKinds() []client.Object {
	return []client.Object{
		&appsv1.Deployment{},
		&appsv1.StatefulSet{},
		&corev1.Service{},
		&corev1.ServiceAccount{},
		&corev1.ConfigMap{},
		&corev1.Secret{},
		&corev1.Pod{},
		&corev1.PersistentVolumeClaim{},
		&networkingv1.Ingress{},
		&networkingv1.NetworkPolicy{},
		&policyv1.PodDisruptionBudget{},
		&autoscalingv2.HorizontalPodAutoscaler{},
	}
}

// CacheOptions are the options of the manager's cache: ChatClusters of
// namespace (every namespace when empty), and of every other kind only the
// objects labelled app.kubernetes.io/managed-by=chatcluster-operator. The
// Secrets, ConfigMaps, Deployments and pods of everyone else are never
// listed, watched nor held in memory. The external Secrets a ChatCluster
// references are read from the API server when it is reconciled, and
// watched through their metadata only (SecretMetadataCacheOptions).
func CacheOptions(namespace string) cache.Options {
	owned := k8slabels.SelectorFromSet(k8slabels.Set{managedByLabel: managedByValue})
	opts := cache.Options{ByObject: map[client.Object]cache.ByObject{}}
	for _, obj := range cachedKinds() {
		opts.ByObject[obj] = cache.ByObject{Label: owned}
	}
	if namespace != "" {
		opts.DefaultNamespaces = map[string]cache.Config{namespace: {}}
	}
	return opts
}

// SecretMetadataCacheOptions are the options of the second cache the
// operator runs, which watches every Secret of namespace (every namespace
// when empty) so that a change to a referenced Secret reaches its
// ChatClusters. It lists and watches metadata only, never data, and keeps
// of each Secret only its namespace, name, uid and resourceVersion: not
// even its annotations, where kubectl's last-applied-configuration would
// carry the data.
func SecretMetadataCacheOptions(scheme *runtime.Scheme, namespace string) cache.Options {
	opts := cache.Options{
		Scheme: scheme,
		ByObject: map[client.Object]cache.ByObject{
			secretMetadata(): {Transform: keepOnlyIdentity},
		},
	}
	if namespace != "" {
		opts.DefaultNamespaces = map[string]cache.Config{namespace: {}}
	}
	return opts
}

// secretMetadata is the type of the metadata-only Secret watch.
func secretMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return m
}

// keepOnlyIdentity reduces an object's metadata to what names it.
func keepOnlyIdentity(in any) (any, error) {
	m, ok := in.(*metav1.PartialObjectMetadata)
	if !ok {
		return in, nil
	}
	return &metav1.PartialObjectMetadata{
		TypeMeta: m.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Namespace: m.Namespace, Name: m.Name, UID: m.UID, ResourceVersion: m.ResourceVersion,
		},
	}, nil
}
