package controllers

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
)

// Components, the value of app.kubernetes.io/component.
const (
	componentChatServer = "chat-server"
	componentIndexer    = "indexer"
)

// selectorLabels select the pods of one component of one ChatCluster.
func selectorLabels(cc *chatv1.ChatCluster, component string) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":      "chatcluster",
		"app.kubernetes.io/instance":  cc.Name,
		"app.kubernetes.io/component": component,
	}
}

// labels are the labels of every object the operator creates.
func labels(cc *chatv1.ChatCluster, component string) map[string]string {
	l := selectorLabels(cc, component)
	l["app.kubernetes.io/managed-by"] = "chatcluster-operator"
	return l
}

// objectMeta names an object after its ChatCluster and component.
func objectMeta(cc *chatv1.ChatCluster, component string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:      cc.Name + "-" + component,
		Namespace: cc.Namespace,
		Labels:    labels(cc, component),
	}
}

// podTemplateMeta is the metadata of a component's pods: its labels, the
// annotations the ChatCluster asks for, and the operator's own annotations,
// which win.
func podTemplateMeta(cc *chatv1.ChatCluster, component string, asked, own map[string]string) metav1.ObjectMeta {
	meta := metav1.ObjectMeta{Labels: labels(cc, component)}
	if len(asked)+len(own) > 0 {
		meta.Annotations = make(map[string]string, len(asked)+len(own))
		maps.Copy(meta.Annotations, asked)
		maps.Copy(meta.Annotations, own)
	}
	return meta
}

// schedule places a pod as s says. Nothing set leaves the scheduler free.
func schedule(pod *corev1.PodSpec, s chatv1.Scheduling) {
	s = *s.DeepCopy()
	pod.NodeSelector = s.NodeSelector
	pod.Tolerations = s.Tolerations
	pod.Affinity = s.Affinity
	pod.TopologySpreadConstraints = s.TopologySpreadConstraints
	pod.PriorityClassName = s.PriorityClassName
}

// imagePullSecrets are the pull Secrets of every pod of the ChatCluster.
func imagePullSecrets(cc *chatv1.ChatCluster) []corev1.LocalObjectReference {
	if len(cc.Spec.ImagePullSecrets) == 0 {
		return nil
	}
	return append([]corev1.LocalObjectReference(nil), cc.Spec.ImagePullSecrets...)
}
