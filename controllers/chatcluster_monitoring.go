package controllers

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/log"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
)

// PodMonitorGVK is the Prometheus Operator's PodMonitor. The operator does
// not depend on its Go types: it writes it unstructured, and only when the
// cluster serves it.
var PodMonitorGVK = schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "PodMonitor"}

// metricsPortName is the container port of the chat-server and indexer pods
// that serves /metrics.
const metricsPortName = "metrics"

func monitoringEnabled(cc *chatv1.ChatCluster) bool {
	return cc.Spec.Monitoring.Enabled == nil || *cc.Spec.Monitoring.Enabled
}

// ensureMonitoring keeps a PodMonitor for the chat server and the indexer
// when the cluster serves PodMonitors and spec.monitoring.enabled is not
// false, and deletes it when monitoring is turned off. Without the
// Prometheus Operator's CRD it does nothing: the CRD is looked up again on
// each reconcile, so installing it later is noticed.
func (r *ChatClusterReconciler) ensureMonitoring(ctx context.Context, cc *chatv1.ChatCluster) error {
	if !r.podMonitorsServed(ctx) {
		return nil
	}
	pm := podMonitor(cc)
	var err error
	if monitoringEnabled(cc) {
		err = r.ensure(ctx, cc, pm)
	} else {
		err = r.ensureAbsent(ctx, cc, pm)
	}
	if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
		// The CRD went away since discovery was cached.
		log.FromContext(ctx).Info("PodMonitors are no longer served; the PodMonitor is skipped", "error", err.Error())
		return nil
	}
	return err
}

// podMonitorsServed asks discovery whether the cluster serves PodMonitors.
// A failed lookup counts as no: monitoring must never fail a reconcile.
func (r *ChatClusterReconciler) podMonitorsServed(ctx context.Context) bool {
	_, err := r.RESTMapper().RESTMapping(PodMonitorGVK.GroupKind(), PodMonitorGVK.Version)
	if err != nil && !meta.IsNoMatchError(err) {
		log.FromContext(ctx).Error(err, "discover PodMonitors; the PodMonitor is skipped this time")
	}
	return err == nil
}

// podMonitor scrapes the port named metrics of the chat-server and indexer
// pods of the ChatCluster. spec.monitoring.labels are added to its labels,
// for a Prometheus that selects PodMonitors by label; the operator's own
// labels win.
func podMonitor(cc *chatv1.ChatCluster) *unstructured.Unstructured {
	meta := objectMeta(cc, componentChatServer)
	lbls := map[string]any{}
	for k, v := range cc.Spec.Monitoring.Labels {
		lbls[k] = v
	}
	for k, v := range meta.Labels {
		lbls[k] = v
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": meta.Name, "namespace": meta.Namespace, "labels": lbls},
		"spec": map[string]any{
			"selector": map[string]any{
				"matchLabels": map[string]any{
					"app.kubernetes.io/name":     "chatcluster",
					"app.kubernetes.io/instance": cc.Name,
				},
				"matchExpressions": []any{map[string]any{
					"key": "app.kubernetes.io/component", "operator": "In",
					"values": []any{componentChatServer, componentIndexer},
				}},
			},
			"podMetricsEndpoints": []any{map[string]any{"port": metricsPortName, "path": "/metrics"}},
		},
	}}
	u.SetGroupVersionKind(PodMonitorGVK)
	return u
}
