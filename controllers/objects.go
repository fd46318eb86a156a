package controllers

import (
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
