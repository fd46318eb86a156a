//go:build envtest

package envtest

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/yaml"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
)

// createFromYAML creates a ChatCluster named demo from its spec in YAML.
func createFromYAML(t *testing.T, ns, spec string) (*chatv1.ChatCluster, error) {
	t.Helper()
	return createNamed(t, ns, "demo", spec)
}

// createNamed creates a ChatCluster from its spec in YAML, sent as written
// (like kubectl, and unlike a typed client, it keeps empty strings and
// zeros); a name ending in "-" is a prefix for a generated name.
func createNamed(t *testing.T, ns, name, spec string) (*chatv1.ChatCluster, error) {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte("spec: "+spec), &u.Object); err != nil {
		t.Fatalf("bad test spec %q: %v", spec, err)
	}
	u.SetGroupVersionKind(chatv1.GroupVersion.WithKind("ChatCluster"))
	u.SetNamespace(ns)
	if strings.HasSuffix(name, "-") {
		u.SetGenerateName(name)
	} else {
		u.SetName(name)
	}
	if err := k8s.Create(context.Background(), u); err != nil {
		return nil, err
	}
	cc := &chatv1.ChatCluster{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, cc); err != nil {
		t.Fatal(err)
	}
	return cc, nil
}

func TestCRDValidation(t *testing.T) {
	ns := newNamespace(t)
	rejected := map[string]struct{ spec, message string }{
		"both managed and external Redis":                        {`{redis: {managed: {}, external: {secretName: r}}}`, "set exactly one of managed and external"},
		"both managed and external MongoDB":                      {`{mongodb: {managed: {}, external: {secretName: m}}}`, "set exactly one of managed and external"},
		"both managed and external Kafka":                        {`{kafka: {managed: {}, external: {secretName: k}}}`, "set exactly one of managed and external"},
		"both managed and external Elasticsearch":                {`{elasticsearch: {managed: {}, external: {secretName: e}}}`, "set exactly one of managed and external"},
		"negative replicas":                                      {`{replicas: -1}`, "spec.replicas"},
		"autoscaling min above max":                              {`{autoscaling: {enabled: true, minReplicas: 5, maxReplicas: 3}}`, "must not exceed autoscaling.maxReplicas"},
		"autoscaling max of zero":                                {`{autoscaling: {maxReplicas: 0}}`, "spec.autoscaling.maxReplicas"},
		"autoscaling max above 1000":                             {`{autoscaling: {maxReplicas: 1001}}`, "spec.autoscaling.maxReplicas"},
		"a CPU target above 100 percent":                         {`{autoscaling: {targetCPUUtilizationPercentage: 150}}`, "targetCPUUtilizationPercentage"},
		"an upper-case host name":                                {`{ingress: {host: Chat.Example.com}}`, "must be a lower-case DNS name"},
		"a host name with a scheme":                              {`{ingress: {host: "http://chat.example.com"}}`, "must be a lower-case DNS name"},
		"a host name with an empty label":                        {`{ingress: {host: "chat..example.com"}}`, "must be a lower-case DNS name"},
		"an unknown auth mode":                                   {`{auth: {mode: oauth}}`, "spec.auth.mode"},
		"proxy mode without a header":                            {`{auth: {mode: proxy, proxyHeader: ""}}`, "proxyHeader is required when auth.mode is proxy"},
		"a header name with a space":                             {`{auth: {proxyHeader: "X User"}}`, "must be an HTTP header name"},
		"an external backend without a Secret":                   {`{redis: {external: {secretName: ""}}}`, "secretName"},
		"a topic with a slash":                                   {`{kafka: {topic: "a/b"}}`, "spec.kafka.topic"},
		"proxy mode without trusted proxies":                     {`{auth: {mode: proxy}}`, "auth.trustedProxies is required when auth.mode is proxy"},
		"a trusted proxy that is no CIDR":                        {`{auth: {mode: proxy, trustedProxies: ["10.0.0.0/33"]}}`, "must be CIDRs"},
		"an auth URL that is no URL":                             {`{auth: {mode: proxy, trustedProxies: [10.0.0.0/8], authURL: "not a url"}}`, "auth.authURL must be a URL"},
		"a Kafka retention under a minute":                       {`{kafka: {retention: 30s}}`, "kafka.retention must be at least 1m"},
		"an index retention under an hour":                       {`{elasticsearch: {retention: 10m}}`, "elasticsearch.retention must be at least 1h"},
		"zero Kafka partitions":                                  {`{kafka: {partitions: 0}}`, "spec.kafka.partitions"},
		"proxy mode through the Ingress without an auth service": {`{auth: {mode: proxy, trustedProxies: [10.0.0.0/8]}}`, "auth.authURL is required when auth.mode is proxy and the operator's Ingress is enabled"},
	}
	for name, tc := range rejected {
		t.Run("Rejects "+name, func(t *testing.T) {
			_, err := createNamed(t, ns, "invalid-", tc.spec)
			if !apierrors.IsInvalid(err) {
				t.Fatalf("create = %v, want Invalid", err)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %q does not mention %q", err, tc.message)
			}
		})
	}

	t.Run("Accepts spec {} and fills in the defaults", func(t *testing.T) {
		cc, err := createNamed(t, ns, "empty-", `{}`)
		if err != nil {
			t.Fatal(err)
		}
		s := cc.Spec
		if ptr.Deref(s.Replicas, 0) != 2 || s.Version != "0.1.0" || s.Auth.Mode != chatv1.AuthModePassword ||
			s.Ingress.Host != "chat.localtest.me" || !ptr.Deref(s.Ingress.Enabled, false) || s.Kafka.Topic != "chat.activity" ||
			s.Autoscaling.MinReplicas != 2 || s.Autoscaling.MaxReplicas != 10 {
			t.Errorf("defaults not applied: %+v", s)
		}
		if err := k8s.Delete(context.Background(), cc); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Accepts the samples' shapes: external backends and proxy auth", func(t *testing.T) {
		cc, err := createNamed(t, ns, "shapes-", `{auth: {mode: proxy, trustedProxies: [10.0.0.0/8], authURL: "http://oauth2-proxy.auth/oauth2/auth", admins: [alice]}, redis: {external: {secretName: r}}, kafka: {managed: {storage: 1Gi}, topic: chat.activity}}`)
		if err != nil {
			t.Fatal(err)
		}
		if err := k8s.Delete(context.Background(), cc); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Accepts proxy mode without an auth service when the Ingress is off", func(t *testing.T) {
		cc, err := createNamed(t, ns, "own-proxy-", `{auth: {mode: proxy, trustedProxies: [10.0.0.0/8]}, ingress: {enabled: false}}`)
		if err != nil {
			t.Fatal(err)
		}
		if err := k8s.Delete(context.Background(), cc); err != nil {
			t.Fatal(err)
		}
	})
}

// conditionTypes are the conditions of a ChatCluster that is reconciled.
var conditionTypes = []string{
	chatv1.ConditionReady, chatv1.ConditionProgressing, chatv1.ConditionDegraded,
	chatv1.ConditionChatServerAvailable, chatv1.ConditionIndexerAvailable, chatv1.ConditionStorageResized,
	chatv1.ConditionRedisReady, chatv1.ConditionMongoDBReady, chatv1.ConditionKafkaReady, chatv1.ConditionElasticsearchReady,
}

// owned lists every object the contract says a ChatCluster named demo owns
// when all its backends are managed.
func owned(ns string) map[string]client.Object {
	objs := map[string]client.Object{
		"Deployment demo-chat-server":     &appsv1.Deployment{},
		"Service demo-chat-server":        &corev1.Service{},
		"ServiceAccount demo-chat-server": &corev1.ServiceAccount{},
		"ConfigMap demo-chat-server":      &corev1.ConfigMap{},
		"Secret demo-chat-server":         &corev1.Secret{},
		"Ingress demo-chat-server":        &networkingv1.Ingress{},
		"PDB demo-chat-server":            &policyv1.PodDisruptionBudget{},
		"Deployment demo-indexer":         &appsv1.Deployment{},
		"NetworkPolicy demo-backends":     &networkingv1.NetworkPolicy{},
	}
	for _, b := range []string{"redis", "mongodb", "kafka", "elasticsearch"} {
		objs["StatefulSet demo-"+b] = &appsv1.StatefulSet{}
		objs["Service demo-"+b] = &corev1.Service{}
	}
	for key, obj := range objs {
		obj.SetNamespace(ns)
		obj.SetName(strings.Fields(key)[1])
	}
	return objs
}

func TestEmptySpecCreatesEveryObjectOfTheContract(t *testing.T) {
	ns := newNamespace(t)
	cc, err := createFromYAML(t, ns, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	for key, obj := range owned(ns) {
		waitFor(t, key, func() (bool, error) {
			err := k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
			return err == nil, err
		})
		component := strings.TrimPrefix(obj.GetName(), "demo-")
		for k, v := range map[string]string{
			"app.kubernetes.io/name": "chatcluster", "app.kubernetes.io/instance": "demo",
			"app.kubernetes.io/managed-by": "chatcluster-operator", "app.kubernetes.io/component": component,
		} {
			if got := obj.GetLabels()[k]; got != v {
				t.Errorf("%s: label %s = %q, want %q", key, k, got, v)
			}
		}
		if !metav1.IsControlledBy(obj, cc) {
			t.Errorf("%s: no controller reference to the ChatCluster", key)
		}
	}

	waitFor(t, "a status with every condition", func() (bool, error) {
		get(t, cc, ns, "demo")
		if cc.Status.ObservedGeneration != cc.Generation {
			return false, nil
		}
		for _, typ := range conditionTypes {
			if meta.FindStatusCondition(cc.Status.Conditions, typ) == nil {
				return false, nil
			}
		}
		return len(cc.Status.Conditions) == len(conditionTypes), nil
	})
	for _, c := range cc.Status.Conditions {
		if c.ObservedGeneration != cc.Generation {
			t.Errorf("condition %s observedGeneration %d, want %d", c.Type, c.ObservedGeneration, cc.Generation)
		}
	}
	if meta.IsStatusConditionTrue(cc.Status.Conditions, chatv1.ConditionReady) {
		t.Error("Ready before any pod runs")
	}
	if !meta.IsStatusConditionTrue(cc.Status.Conditions, chatv1.ConditionProgressing) {
		t.Error("not Progressing while the workloads roll out")
	}
	if cc.Status.Endpoint != "http://chat.localtest.me" {
		t.Errorf("endpoint %q", cc.Status.Endpoint)
	}

	t.Run("Ready once the workloads report ready", func(t *testing.T) {
		markWorkloadsReady(t, ns)
		waitFor(t, "Ready=True", func() (bool, error) {
			get(t, cc, ns, "demo")
			return meta.IsStatusConditionTrue(cc.Status.Conditions, chatv1.ConditionReady), nil
		})
		ready := meta.FindStatusCondition(cc.Status.Conditions, chatv1.ConditionReady)
		if ready.Reason != chatv1.ReasonAllComponentsReady {
			t.Errorf("Ready reason %q", ready.Reason)
		}
		if cc.Status.ReadyReplicas != 2 {
			t.Errorf("readyReplicas %d", cc.Status.ReadyReplicas)
		}
	})

	t.Run("A settled ChatCluster is reconciled without a single write", func(t *testing.T) {
		// Let the running manager settle, then reconcile by hand.
		if _, err := reconciler.Reconcile(context.Background(), reconcile.Request{NamespacedName: client.ObjectKeyFromObject(cc)}); err != nil {
			t.Fatal(err)
		}
		before := resourceVersions(t, ns)
		sent := requests.Load()
		for range 3 {
			if _, err := reconciler.Reconcile(context.Background(), reconcile.Request{NamespacedName: client.ObjectKeyFromObject(cc)}); err != nil {
				t.Fatal(err)
			}
		}
		after := resourceVersions(t, ns)
		for key, rv := range before {
			if after[key] != rv {
				t.Errorf("%s was written: resourceVersion %s -> %s", key, rv, after[key])
			}
		}
		if n := requests.Load() - sent; n != 0 {
			t.Errorf("%d write requests sent, want none", n)
		}
	})

	t.Run("A deleted owned object is put back", func(t *testing.T) {
		svc := &corev1.Service{}
		get(t, svc, ns, "demo-chat-server")
		if err := k8s.Delete(context.Background(), svc); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the Service to come back", func() (bool, error) {
			fresh := &corev1.Service{}
			err := k8s.Get(context.Background(), client.ObjectKeyFromObject(svc), fresh)
			return err == nil && fresh.UID != svc.UID, client.IgnoreNotFound(err)
		})
	})

	t.Run("An edited owned object is put back, keeping what others added", func(t *testing.T) {
		d := &appsv1.Deployment{}
		get(t, d, ns, "demo-chat-server")
		want := d.Spec.Template.Spec.Containers[0].Image
		d.Spec.Template.Spec.Containers[0].Image = "evil/image:latest"
		d.Spec.Replicas = ptr.To[int32](5)
		d.Labels["team"] = "chat"
		if err := k8s.Update(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the Deployment to be restored", func() (bool, error) {
			get(t, d, ns, "demo-chat-server")
			return d.Spec.Template.Spec.Containers[0].Image == want && *d.Spec.Replicas == 2, nil
		})
		if d.Labels["team"] != "chat" {
			t.Error("the operator removed a label it does not own")
		}
	})

	t.Run("Scaling the ChatCluster scales the Deployment", func(t *testing.T) {
		patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"replicas":3}}`))
		if err := k8s.Patch(context.Background(), cc, patch); err != nil {
			t.Fatal(err)
		}
		d := &appsv1.Deployment{}
		waitFor(t, "3 replicas", func() (bool, error) {
			get(t, d, ns, "demo-chat-server")
			return *d.Spec.Replicas == 3, nil
		})
		waitFor(t, "Ready=False for the new generation", func() (bool, error) {
			get(t, cc, ns, "demo")
			c := meta.FindStatusCondition(cc.Status.Conditions, chatv1.ConditionReady)
			return c != nil && c.ObservedGeneration == cc.Generation && c.Status == metav1.ConditionFalse, nil
		})
	})
}

// markWorkloadsReady plays the Deployment and StatefulSet controllers.
func markWorkloadsReady(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	var deploys appsv1.DeploymentList
	if err := k8s.List(ctx, &deploys, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, d := range deploys.Items {
		n := ptr.Deref(d.Spec.Replicas, 1)
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
		if err := k8s.Status().Update(ctx, &d); err != nil {
			t.Fatal(err)
		}
	}
	var sets appsv1.StatefulSetList
	if err := k8s.List(ctx, &sets, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, s := range sets.Items {
		s.Status = appsv1.StatefulSetStatus{ObservedGeneration: s.Generation, Replicas: 1, ReadyReplicas: 1, AvailableReplicas: 1, UpdatedReplicas: 1}
		if err := k8s.Status().Update(ctx, &s); err != nil {
			t.Fatal(err)
		}
	}
}

// resourceVersions of the ChatCluster and everything it owns.
func resourceVersions(t *testing.T, ns string) map[string]string {
	t.Helper()
	rvs := map[string]string{}
	cc := &chatv1.ChatCluster{}
	get(t, cc, ns, "demo")
	rvs["ChatCluster demo"] = cc.ResourceVersion
	for key, obj := range owned(ns) {
		get(t, obj, ns, obj.GetName())
		rvs[key] = obj.GetResourceVersion()
	}
	return rvs
}
