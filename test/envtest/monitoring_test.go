//go:build envtest

package envtest

import (
	"context"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
	"github.com/chatcluster/chatcluster/controllers"
)

// installPodMonitorCRD installs the smallest PodMonitor CRD that serves
// monitoring.coreos.com/v1 PodMonitors. It stays for the rest of the suite:
// every ChatCluster reconciled after it gets a PodMonitor.
func installPodMonitorCRD(t *testing.T) {
	t.Helper()
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "podmonitors.monitoring.coreos.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "monitoring.coreos.com",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "podmonitors", Singular: "podmonitor", Kind: "PodMonitor", ListKind: "PodMonitorList"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec": {Type: "object", XPreserveUnknownFields: ptr.To(true)},
					},
				}},
			}},
		},
	}
	ctx := context.Background()
	if err := k8s.Create(ctx, crd); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	waitFor(t, "the PodMonitor CRD to be established", func() (bool, error) {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(crd), crd); err != nil {
			return false, err
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
}

func podMonitor(t *testing.T, ns string) (*unstructured.Unstructured, error) {
	t.Helper()
	pm := &unstructured.Unstructured{}
	pm.SetGroupVersionKind(controllers.PodMonitorGVK)
	return pm, k8s.Get(context.Background(), keyOf(ns, "demo-chat-server"), pm)
}

func TestPodMonitorFollowsTheSpecOnceItsCRDExists(t *testing.T) {
	ns := newNamespace(t)
	createDirect(t, ns, `{monitoring: {labels: {release: prometheus}}}`)
	r := operator(controllers.DefaultImages)
	// Without the CRD: nothing to do, and no error.
	reconcileDirect(t, r, ns)

	installPodMonitorCRD(t)
	waitFor(t, "the operator to create the PodMonitor", func() (bool, error) {
		reconcileDirect(t, r, ns)
		_, err := podMonitor(t, ns)
		return err == nil, client.IgnoreNotFound(err)
	})
	pm, _ := podMonitor(t, ns)
	cc := &chatv1.ChatCluster{}
	get(t, cc, ns, "demo")
	if !metav1.IsControlledBy(pm, cc) {
		t.Error("the PodMonitor has no controller reference to the ChatCluster")
	}
	if pm.GetLabels()["release"] != "prometheus" || pm.GetLabels()["app.kubernetes.io/managed-by"] != "chatcluster-operator" {
		t.Errorf("labels %v", pm.GetLabels())
	}
	endpoints, _, _ := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
	if len(endpoints) != 1 || endpoints[0].(map[string]any)["port"] != "metrics" {
		t.Errorf("podMetricsEndpoints %v", endpoints)
	}
	values, _, _ := unstructured.NestedSlice(pm.Object, "spec", "selector", "matchExpressions")
	if len(values) != 1 {
		t.Fatalf("selector %v", pm.Object["spec"])
	}
	if got := values[0].(map[string]any)["values"]; len(got.([]any)) != 2 {
		t.Errorf("selected components %v, want chat-server and indexer", got)
	}
	instance, _, _ := unstructured.NestedString(pm.Object, "spec", "selector", "matchLabels", "app.kubernetes.io/instance")
	if instance != "demo" {
		t.Errorf("selects instance %q", instance)
	}

	sent := requests.Load()
	reconcileDirect(t, r, ns)
	if n := requests.Load() - sent; n != 0 {
		t.Errorf("%d writes to a settled ChatCluster with a PodMonitor", n)
	}

	mergePatch(t, ns, `{"spec": {"monitoring": {"enabled": false}}}`)
	reconcileDirect(t, r, ns)
	if _, err := podMonitor(t, ns); !apierrors.IsNotFound(err) {
		t.Errorf("the PodMonitor is still there with monitoring disabled: %v", err)
	}
}
