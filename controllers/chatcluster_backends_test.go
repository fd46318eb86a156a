package controllers

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
			sts := b.statefulSet(cc, b.image(images))
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
	env := containerEnv(backendNamed(t, "kafka").statefulSet(newChatCluster(), backendNamed(t, "kafka").image(DefaultImages)).Spec.Template.Spec.Containers[0])
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
			if got := backendNamed(t, tc.backend).missing(secret("s", tc.data)); got != tc.missing {
				t.Errorf("missing = %q, want %q", got, tc.missing)
			}
		})
	}
}

// backendNamed is the backend of that name.
func backendNamed(t *testing.T, name string) *backend {
	t.Helper()
	for _, b := range backends {
		if b.name == name {
			return b
		}
	}
	t.Fatalf("no backend %s", name)
	return nil
}

// containerEnv maps the container's plain variables to their values.
func containerEnv(c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	return env
}

func TestJVMHeapIsHalfTheMemory(t *testing.T) {
	tests := map[string]struct {
		backend   string
		resources *corev1.ResourceRequirements
		want      string // "" means no heap setting: the image's default
	}{
		"Kafka by default: half of its 1Gi limit":         {"kafka", nil, "-Xms512m -Xmx512m"},
		"Elasticsearch by default: half of its 2Gi limit": {"elasticsearch", nil, "-Xms1024m -Xmx1024m"},
		"a smaller limit shrinks the heap": {
			"kafka", &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("600Mi")}}, "-Xms300m -Xmx300m",
		},
		"a larger limit grows it": {
			"elasticsearch", &corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("4Gi")},
			}, "-Xms2048m -Xmx2048m",
		},
		"the request when there is no limit": {
			"elasticsearch", &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1500M")}}, "-Xms715m -Xmx715m",
		},
		"the image's default without either": {
			"kafka", &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}, "",
		},
	}
	heapVar := map[string]string{"kafka": "KAFKA_HEAP_OPTS", "elasticsearch": "ES_JAVA_OPTS"}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cc := newChatCluster(func(cc *chatv1.ChatCluster) {
				m := &chatv1.ManagedBackend{Resources: tc.resources}
				if tc.backend == "kafka" {
					cc.Spec.Kafka.Managed = m
				} else {
					cc.Spec.Elasticsearch.Managed = m
				}
			})
			c := backendNamed(t, tc.backend).statefulSet(cc, backendNamed(t, tc.backend).image(DefaultImages)).Spec.Template.Spec.Containers[0]
			got, ok := containerEnv(c)[heapVar[tc.backend]]
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("%s = %q (set: %t), want %q", heapVar[tc.backend], got, ok, tc.want)
			}
		})
	}
}

func TestKafkaKeepsItsLogsBelowTheVolumeRootAndCreatesNoTopics(t *testing.T) {
	cc := newChatCluster(func(cc *chatv1.ChatCluster) {
		cc.Spec.Kafka.Retention = &metav1.Duration{Duration: 90 * time.Minute}
	})
	c := backendNamed(t, "kafka").statefulSet(cc, backendNamed(t, "kafka").image(DefaultImages)).Spec.Template.Spec.Containers[0]
	env := containerEnv(c)
	mount := c.VolumeMounts[0].MountPath
	if dir := env["KAFKA_LOG_DIRS"]; !strings.HasPrefix(dir, mount+"/") {
		t.Errorf("KAFKA_LOG_DIRS = %q, not a directory inside the volume at %s (whose root holds lost+found)", dir, mount)
	}
	if env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] != "false" {
		t.Errorf("KAFKA_AUTO_CREATE_TOPICS_ENABLE = %q: the chat server creates its topic", env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"])
	}
	if env["KAFKA_LOG_RETENTION_HOURS"] != "2" {
		t.Errorf("KAFKA_LOG_RETENTION_HOURS = %q for 90m, want 2", env["KAFKA_LOG_RETENTION_HOURS"])
	}
}

func TestManagedDataIsRetainedUnlessAskedOtherwise(t *testing.T) {
	tests := map[string]struct {
		retain *bool
		want   appsv1.PersistentVolumeClaimRetentionPolicyType
	}{
		"by default":            {nil, appsv1.RetainPersistentVolumeClaimRetentionPolicyType},
		"retainOnDelete: true":  {ptr.To(true), appsv1.RetainPersistentVolumeClaimRetentionPolicyType},
		"retainOnDelete: false": {ptr.To(false), appsv1.DeletePersistentVolumeClaimRetentionPolicyType},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cc := newChatCluster(func(cc *chatv1.ChatCluster) {
				cc.Spec.Redis.Managed = &chatv1.ManagedBackend{RetainOnDelete: tc.retain}
			})
			p := backendNamed(t, "redis").statefulSet(cc, backendNamed(t, "redis").image(DefaultImages)).Spec.PersistentVolumeClaimRetentionPolicy
			if p == nil || p.WhenDeleted != tc.want || p.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
				t.Errorf("retention policy %+v, want whenDeleted %s", p, tc.want)
			}
		})
	}
}

func TestBackendPodsTakeTheirSchedulingAnnotationsAndPullSecrets(t *testing.T) {
	sched := chatv1.Scheduling{
		NodeSelector:      map[string]string{"disk": "ssd"},
		Tolerations:       []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "data", Effect: corev1.TaintEffectNoSchedule}},
		PriorityClassName: "data-critical",
	}
	cc := newChatCluster(func(cc *chatv1.ChatCluster) {
		cc.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "mirror-pull"}}
		cc.Spec.Scheduling = chatv1.Scheduling{NodeSelector: map[string]string{"pool": "chat"}}
		cc.Spec.PodAnnotations = map[string]string{"chat-only": "yes"}
		cc.Spec.MongoDB.Managed = &chatv1.ManagedBackend{Scheduling: sched, PodAnnotations: map[string]string{"backup.example/enabled": "true"}}
	})
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			tpl := b.statefulSet(cc, b.image(DefaultImages)).Spec.Template
			if len(tpl.Spec.ImagePullSecrets) != 1 || tpl.Spec.ImagePullSecrets[0].Name != "mirror-pull" {
				t.Errorf("imagePullSecrets %v", tpl.Spec.ImagePullSecrets)
			}
			if _, ok := tpl.Annotations["chat-only"]; ok || tpl.Spec.NodeSelector["pool"] != "" {
				t.Error("the chat server's podAnnotations or scheduling reached a backend")
			}
			if b.name != "mongodb" {
				return
			}
			if tpl.Annotations["backup.example/enabled"] != "true" {
				t.Errorf("annotations %v", tpl.Annotations)
			}
			if tpl.Spec.NodeSelector["disk"] != "ssd" || len(tpl.Spec.Tolerations) != 1 || tpl.Spec.PriorityClassName != "data-critical" {
				t.Errorf("scheduling: nodeSelector %v, tolerations %v, priorityClassName %q",
					tpl.Spec.NodeSelector, tpl.Spec.Tolerations, tpl.Spec.PriorityClassName)
			}
		})
	}
}
