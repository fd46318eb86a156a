package controllers

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
	"github.com/chatcluster/chatcluster/chatserver/config"
)

// managedObserved is what a reconcile observes when every backend is managed.
func managedObserved() []backendState {
	observed := make([]backendState, 0, len(backends))
	for _, b := range backends {
		observed = append(observed, backendState{backend: b, managed: true})
	}
	return observed
}

// workloads are the chat server's and the indexer's Deployments.
func workloads(cc *chatv1.ChatCluster, observed []backendState) map[string]*appsv1.Deployment {
	return map[string]*appsv1.Deployment{
		componentChatServer: chatServerDeployment(cc, DefaultImages, observed, "hash"),
		componentIndexer:    indexerDeployment(cc, DefaultImages, observed, "hash"),
	}
}

func TestActivityRetentionAndTopicReachTheServer(t *testing.T) {
	tests := map[string]struct {
		mod  func(*chatv1.ChatCluster)
		want map[string]string
	}{
		"defaults with a managed Kafka of one broker": {
			mod: func(*chatv1.ChatCluster) {},
			want: map[string]string{
				config.EnvKafkaPartitions: "3", config.EnvKafkaReplicationFactor: "1",
				config.EnvKafkaRetention: "168h0m0s", config.EnvElasticsearchRetention: "720h0m0s",
			},
		},
		"a managed Kafka ignores a replication factor it cannot meet": {
			mod: func(cc *chatv1.ChatCluster) {
				cc.Spec.Kafka.ReplicationFactor = ptr.To[int32](3)
				cc.Spec.Kafka.Partitions = 12
			},
			want: map[string]string{config.EnvKafkaPartitions: "12", config.EnvKafkaReplicationFactor: "1"},
		},
		"an external Kafka defaults to the brokers' replication factor": {
			mod: func(cc *chatv1.ChatCluster) {
				cc.Spec.Kafka.External = &chatv1.ExternalBackend{SecretName: "k"}
			},
			want: map[string]string{config.EnvKafkaReplicationFactor: "-1"},
		},
		"an external Kafka takes the spec's replication factor and retentions": {
			mod: func(cc *chatv1.ChatCluster) {
				cc.Spec.Kafka.External = &chatv1.ExternalBackend{SecretName: "k"}
				cc.Spec.Kafka.ReplicationFactor = ptr.To[int32](3)
				cc.Spec.Kafka.Retention = &metav1.Duration{Duration: 36 * time.Hour}
				cc.Spec.Elasticsearch.Retention = &metav1.Duration{Duration: 90 * 24 * time.Hour}
			},
			want: map[string]string{
				config.EnvKafkaReplicationFactor: "3", config.EnvKafkaRetention: "36h0m0s",
				config.EnvElasticsearchRetention: "2160h0m0s",
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cm := configMap(newChatCluster(tc.mod), managedObserved())
			for k, v := range tc.want {
				if cm.Data[k] != v {
					t.Errorf("%s = %q, want %q", k, cm.Data[k], v)
				}
			}
		})
	}
}

func TestProbesAndMetricsAreOnTheManagementPortOnly(t *testing.T) {
	cc := newChatCluster()
	cm := configMap(cc, managedObserved())
	if cm.Data[config.EnvManagementAddr] != ":9090" {
		t.Errorf("%s = %q", config.EnvManagementAddr, cm.Data[config.EnvManagementAddr])
	}
	for component, d := range workloads(cc, managedObserved()) {
		c := d.Spec.Template.Spec.Containers[0]
		ports := map[string]int32{}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		if ports["metrics"] != 9090 {
			t.Errorf("%s: ports %v, want metrics on 9090", component, c.Ports)
		}
		if _, ok := ports["http"]; ok != (component == componentChatServer) {
			t.Errorf("%s: ports %v", component, c.Ports)
		}
		for probe, path := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz"} {
			if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != path || probe.HTTPGet.Port != intstr.FromString("metrics") {
				t.Errorf("%s: probe %+v, want %s on the metrics port", component, probe, path)
			}
		}
	}
	svc := chatService(cc)
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort != intstr.FromString("http") {
		t.Errorf("Service ports %+v: only the chat's", svc.Spec.Ports)
	}
}

func TestProxyAuthTrustsOnlyItsProxies(t *testing.T) {
	proxy := func(authURL string) func(*chatv1.ChatCluster) {
		return func(cc *chatv1.ChatCluster) {
			cc.Spec.Auth = chatv1.AuthSpec{
				Mode: chatv1.AuthModeProxy, ProxyHeader: "X-Auth-Request-User",
				TrustedProxies: []string{"10.0.0.0/8", "fd00::/8"}, AuthURL: authURL,
			}
		}
	}
	cm := configMap(newChatCluster(proxy("")), managedObserved())
	if cm.Data[config.EnvTrustedProxies] != "10.0.0.0/8,fd00::/8" || cm.Data[config.EnvProxyHeader] != "X-Auth-Request-User" {
		t.Errorf("ConfigMap %v", cm.Data)
	}

	tests := map[string]struct {
		mod         func(*chatv1.ChatCluster)
		authURL     string
		respHeaders string
	}{
		"proxy mode without authURL: the proxy in front sets the header": {mod: proxy("")},
		"password mode never asks an auth service": {
			mod: func(cc *chatv1.ChatCluster) { cc.Spec.Auth.AuthURL = "https://auth.example/verify" },
		},
		"proxy mode with authURL: the header comes from the auth service": {
			mod: proxy("https://auth.example/verify"), authURL: "https://auth.example/verify", respHeaders: "X-Auth-Request-User",
		},
		"headers asked for in spec.ingress.annotations are kept": {
			mod: func(cc *chatv1.ChatCluster) {
				proxy("https://auth.example/verify")(cc)
				cc.Spec.Ingress.Annotations = map[string]string{
					"nginx.ingress.kubernetes.io/auth-response-headers": "X-Auth-Request-Email",
					"nginx.ingress.kubernetes.io/auth-url":              "https://elsewhere.example",
				}
			},
			authURL: "https://auth.example/verify", respHeaders: "X-Auth-Request-Email,X-Auth-Request-User",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := chatIngress(newChatCluster(tc.mod)).Annotations
			if got := a["nginx.ingress.kubernetes.io/auth-url"]; got != tc.authURL {
				t.Errorf("auth-url %q, want %q", got, tc.authURL)
			}
			if got := a["nginx.ingress.kubernetes.io/auth-response-headers"]; got != tc.respHeaders {
				t.Errorf("auth-response-headers %q, want %q", got, tc.respHeaders)
			}
		})
	}
}

func TestChatPodsLeaveTheirUserToTheImageOrPlatform(t *testing.T) {
	for component, d := range workloads(newChatCluster(), managedObserved()) {
		sc := d.Spec.Template.Spec.SecurityContext
		if sc == nil || !ptr.Deref(sc.RunAsNonRoot, false) {
			t.Errorf("%s: may run as root", component)
			continue
		}
		if sc.RunAsUser != nil || sc.RunAsGroup != nil || sc.FSGroup != nil {
			t.Errorf("%s: runAsUser %v, runAsGroup %v, fsGroup %v: a namespace's assigned UID range could not apply",
				component, ptr.Deref(sc.RunAsUser, -1), ptr.Deref(sc.RunAsGroup, -1), ptr.Deref(sc.FSGroup, -1))
		}
	}
	for _, b := range backends {
		if sc := b.statefulSet(newChatCluster(), b.image(DefaultImages)).Spec.Template.Spec.SecurityContext; ptr.Deref(sc.RunAsUser, 0) == 0 {
			t.Errorf("%s: its image starts as root unless given a user", b.name)
		}
	}
}

func TestEachBackendTrustsItsOwnCA(t *testing.T) {
	cc := newChatCluster(func(cc *chatv1.ChatCluster) {
		cc.Spec.Redis = chatv1.BackendSpec{External: &chatv1.ExternalBackend{SecretName: "my-redis"}}
		cc.Spec.Kafka.BackendSpec = chatv1.BackendSpec{External: &chatv1.ExternalBackend{SecretName: "my-kafka"}}
	})
	observed := managedObserved()
	for i, b := range backends {
		switch b.name {
		case "redis":
			observed[i] = observeSecret(b, "my-redis", secret("my-redis", map[string]string{"url": "rediss://r:6380", "ca.crt": "PEM"}))
		case "kafka":
			observed[i] = observeSecret(b, "my-kafka", secret("my-kafka", map[string]string{"brokers": "k:9093", "tls": "true"}))
		}
	}
	want := map[string]map[string]string{
		componentChatServer: {config.EnvRedisCAFile: "/etc/chatcluster/ca/redis/ca.crt"},
		componentIndexer:    {},
	}
	for component, d := range workloads(cc, observed) {
		c := d.Spec.Template.Spec.Containers[0]
		env := containerEnv(c)
		for _, v := range []string{config.EnvRedisCAFile, config.EnvMongoDBCAFile, config.EnvKafkaCAFile, config.EnvElasticsearchCAFile} {
			if env[v] != want[component][v] {
				t.Errorf("%s: %s = %q, want %q", component, v, env[v], want[component][v])
			}
		}
		mounted := map[string]bool{}
		for _, m := range c.VolumeMounts {
			mounted[m.MountPath] = true
		}
		if mounted["/etc/chatcluster/ca/redis"] != (component == componentChatServer) {
			t.Errorf("%s: mounts %v", component, c.VolumeMounts)
		}
		var tls *corev1.SecretKeySelector
		for _, e := range c.Env {
			if e.Name == config.EnvKafkaTLS && e.ValueFrom != nil {
				tls = e.ValueFrom.SecretKeyRef
			}
		}
		if tls == nil || tls.Name != "my-kafka" || tls.Key != "tls" || !ptr.Deref(tls.Optional, false) {
			t.Errorf("%s: %s from %+v, want the optional key tls of my-kafka", component, config.EnvKafkaTLS, tls)
		}
	}
}

func TestChatPodsAreScheduledAndAnnotatedAsAsked(t *testing.T) {
	affinity := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "pool", Operator: corev1.NodeSelectorOpIn, Values: []string{"chat"}}},
		}}},
	}}
	sched := func(cc *chatv1.ChatCluster) {
		cc.Spec.Scheduling = chatv1.Scheduling{
			NodeSelector:      map[string]string{"kubernetes.io/os": "linux"},
			Tolerations:       []corev1.Toleration{{Key: "chat", Operator: corev1.TolerationOpExists}},
			Affinity:          affinity,
			PriorityClassName: "chat-high",
		}
		cc.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "mirror-pull"}}
		cc.Spec.PodAnnotations = map[string]string{"team": "chat", configHashAnnotation: "overridden"}
	}
	for component, d := range workloads(newChatCluster(sched), managedObserved()) {
		tpl := d.Spec.Template
		if tpl.Spec.NodeSelector["kubernetes.io/os"] != "linux" || len(tpl.Spec.Tolerations) != 1 ||
			tpl.Spec.Affinity == nil || tpl.Spec.PriorityClassName != "chat-high" {
			t.Errorf("%s: scheduling not applied: %+v", component, tpl.Spec)
		}
		if len(tpl.Spec.ImagePullSecrets) != 1 || tpl.Spec.ImagePullSecrets[0].Name != "mirror-pull" {
			t.Errorf("%s: imagePullSecrets %v", component, tpl.Spec.ImagePullSecrets)
		}
		if tpl.Annotations["team"] != "chat" || tpl.Annotations[configHashAnnotation] != "hash" {
			t.Errorf("%s: annotations %v, want team and the operator's config hash", component, tpl.Annotations)
		}
	}

	spread := func(cc *chatv1.ChatCluster) map[string][]corev1.TopologySpreadConstraint {
		out := map[string][]corev1.TopologySpreadConstraint{}
		for component, d := range workloads(cc, managedObserved()) {
			out[component] = d.Spec.Template.Spec.TopologySpreadConstraints
		}
		return out
	}
	byDefault := spread(newChatCluster())
	keys := map[string]bool{}
	for _, c := range byDefault[componentChatServer] {
		if c.WhenUnsatisfiable != corev1.ScheduleAnyway || c.LabelSelector == nil ||
			c.LabelSelector.MatchLabels["app.kubernetes.io/component"] != componentChatServer {
			t.Errorf("default spread %+v may block scheduling or count other pods", c)
		}
		keys[c.TopologyKey] = true
	}
	if !keys["kubernetes.io/hostname"] || !keys["topology.kubernetes.io/zone"] {
		t.Errorf("default spread over %v, want nodes and zones", keys)
	}
	if len(byDefault[componentIndexer]) != 0 {
		t.Errorf("the single indexer is spread: %v", byDefault[componentIndexer])
	}
	own := []corev1.TopologySpreadConstraint{{MaxSkew: 2, TopologyKey: "rack", WhenUnsatisfiable: corev1.DoNotSchedule}}
	asked := spread(newChatCluster(func(cc *chatv1.ChatCluster) { cc.Spec.Scheduling.TopologySpreadConstraints = own }))
	for component, got := range asked {
		if len(got) != 1 || got[0].TopologyKey != "rack" {
			t.Errorf("%s: spread %v, want only the spec's", component, got)
		}
	}
}

func TestPerAddressLimitsNeedTrustedProxiesBehindTheIngress(t *testing.T) {
	cases := map[string]struct {
		mod     func(*chatv1.ChatCluster)
		off     bool
		trusted string
	}{
		"behind the Ingress without trusted proxies the limits are off": {mod: func(*chatv1.ChatCluster) {}, off: true},
		"trusted ingress pods keep the limits and name the client": {
			mod:     func(cc *chatv1.ChatCluster) { cc.Spec.Auth.TrustedProxies = []string{"10.244.0.0/16"} },
			trusted: "10.244.0.0/16",
		},
		"without an Ingress the limits count the peer": {
			mod: func(cc *chatv1.ChatCluster) { cc.Spec.Ingress.Enabled = ptr.To(false) },
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			data := configMap(newChatCluster(tc.mod), managedObserved()).Data
			for _, env := range perAddressLimits {
				if v, set := data[env]; set != tc.off || (tc.off && v != "0") {
					t.Errorf("%s = %q (set %v), want off=%v", env, v, set, tc.off)
				}
			}
			if got := data[config.EnvTrustedProxies]; got != tc.trusted {
				t.Errorf("%s = %q, want %q", config.EnvTrustedProxies, got, tc.trusted)
			}
		})
	}
}
