package controllers

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
)

func TestManagedBackendStatefulSets(t *testing.T) {
	images := DefaultImages
	images.Kafka = "mirror.example/kafka:3.9.1"
	cc := newChatCluster(withManagedStorage("7Gi"), func(cc *chatv1.ChatCluster) {
		cc.Spec.Redis.Managed = &chatv1.ManagedBackend{Image: "mirror.example/redis:7"}
	})
	want := map[string]struct{ image, storage string }{
		"redis":         {"mirror.example/redis:7", "1Gi"},
		"mongodb":       {DefaultImages.MongoDB, "7Gi"},
		"kafka":         {"mirror.example/kafka:3.9.1", "5Gi"},
		"elasticsearch": {DefaultImages.Elasticsearch, "5Gi"},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			sts := b.statefulSet(cc, images)
			pod := sts.Spec.Template.Spec
			c := pod.Containers[0]
			if c.Image != want[b.name].image {
				t.Errorf("image %q, want %q", c.Image, want[b.name].image)
			}
			if got := sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage]; got.String() != want[b.name].storage {
				t.Errorf("storage %s, want %s", got.String(), want[b.name].storage)
			}
			if ptr.Deref(sts.Spec.Replicas, 0) != 1 {
				t.Error("not single-node")
			}
			if c.ReadinessProbe == nil || c.LivenessProbe == nil {
				t.Error("missing probes")
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
				t.Error("missing resource requests")
			}
			if !ptr.Deref(pod.SecurityContext.RunAsNonRoot, false) {
				t.Error("may run as root")
			}
			if sts.Spec.ServiceName != b.headlessService(cc).Name || b.headlessService(cc).Spec.ClusterIP != corev1.ClusterIPNone {
				t.Error("not governed by its headless Service")
			}
		})
	}
}

func TestKafkaRunsInKRaftMode(t *testing.T) {
	var kafka *backend
	for _, b := range backends {
		if b.name == "kafka" {
			kafka = b
		}
	}
	env := map[string]string{}
	for _, e := range kafka.statefulSet(newChatCluster(), DefaultImages).Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	if env["KAFKA_PROCESS_ROLES"] != "broker,controller" || env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "" {
		t.Errorf("not a KRaft broker and controller: %v", env)
	}
	if env["KAFKA_ADVERTISED_LISTENERS"] != "PLAINTEXT://demo-kafka.chat.svc:9092" {
		t.Errorf("advertised listeners %q", env["KAFKA_ADVERTISED_LISTENERS"])
	}
	for k := range env {
		if strings.HasPrefix(k, "KAFKA_ZOOKEEPER") {
			t.Errorf("ZooKeeper setting %s", k)
		}
	}
}

func TestExternalSecretRules(t *testing.T) {
	byName := map[string]*backend{}
	for _, b := range backends {
		byName[b.name] = b
	}
	tests := map[string]struct {
		backend string
		data    map[string]string
		missing string
	}{
		"Redis needs url":                               {"redis", map[string]string{"password": "p"}, `has no key "url"`},
		"Redis with url is complete":                    {"redis", map[string]string{"url": "rediss://r:6380"}, ""},
		"MongoDB needs uri":                             {"mongodb", map[string]string{"url": "x"}, `has no key "uri"`},
		"Kafka needs brokers":                           {"kafka", map[string]string{"username": "u"}, `has no key "brokers"`},
		"Elasticsearch needs credentials":               {"elasticsearch", map[string]string{"url": "https://es:9200"}, `has neither "username" and "password" nor "apiKey"`},
		"Elasticsearch with a username only is refused": {"elasticsearch", map[string]string{"url": "u", "username": "e"}, `has neither "username" and "password" nor "apiKey"`},
		"Elasticsearch with an API key is complete":     {"elasticsearch", map[string]string{"url": "u", "apiKey": "k"}, ""},
		"Elasticsearch with a user and password is complete": {
			"elasticsearch", map[string]string{"url": "u", "username": "e", "password": "p"}, "",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := byName[tc.backend].missing(secret("s", tc.data)); got != tc.missing {
				t.Errorf("missing = %q, want %q", got, tc.missing)
			}
		})
	}
}
