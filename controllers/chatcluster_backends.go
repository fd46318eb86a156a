package controllers

import (
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
	"github.com/chatcluster/chatcluster/chatserver/config"
)

// secretKey is a key of an external backend's Secret and the chat-server
// environment variable it feeds.
type secretKey struct {
	key      string
	env      string
	required bool
}

// caKey is the optional key of any external backend's Secret that holds the
// CA certificate to trust for that backend only.
const caKey = "ca.crt"

// kafkaTLSKey is the optional key of Kafka's Secret that turns TLS on with the
// system's CAs ("true"); a ca.crt turns it on by itself.
const kafkaTLSKey = "tls"

// backend describes one of the four backends: how to reach it, what its
// external Secret holds, and how the operator runs it when managed.
type backend struct {
	name      string // the component, e.g. "redis"
	condition string // its condition type, e.g. "RedisReady"
	spec      func(*chatv1.ChatClusterSpec) chatv1.BackendSpec
	indexer   bool // the indexer uses it too

	// external
	keys []secretKey
	// caEnv is the variable that points the chat server at the mounted
	// ca.crt (caFile), the only CA this backend trusts.
	caEnv string
	// incomplete, if set, reports what else the Secret lacks beyond required keys.
	incomplete func(data map[string][]byte) string

	// managed
	urlEnv         string
	url            func(host string, port int32) string
	port           int32
	image          func(Images) string
	dataPath       string
	defaultStorage string
	// uid runs the pod and owns its volume (fsGroup): these images start as
	// root, or as a user name runAsNonRoot cannot check, and a fresh volume
	// belongs to root.
	uid       int64
	resources corev1.ResourceRequirements
	// configure completes the container; c.Resources is already final.
	configure func(cc *chatv1.ChatCluster, host string, c *corev1.Container)
}

const (
	// kafkaDataPath is where Kafka's volume is mounted. Its log directory
	// is a subdirectory: a fresh ext4 volume has lost+found at its root,
	// which Kafka refuses to start with.
	kafkaDataPath = "/var/lib/kafka/data"
	kafkaLogDirs  = kafkaDataPath + "/logs"
)

// backends in the order the operator reports them.
var backends = []*backend{
	{
		name: "redis", condition: chatv1.ConditionRedisReady,
		spec: func(s *chatv1.ChatClusterSpec) chatv1.BackendSpec { return s.Redis },
		keys: []secretKey{
			{key: "url", env: config.EnvRedisURL, required: true},
			{key: "password", env: config.EnvRedisPassword},
		},
		caEnv:  config.EnvRedisCAFile,
		urlEnv: config.EnvRedisURL,
		url:    func(host string, port int32) string { return fmt.Sprintf("redis://%s:%d", host, port) },
		port:   6379, image: func(i Images) string { return i.Redis },
		dataPath: "/data", defaultStorage: "1Gi", uid: 999,
		resources: requirements("50m", "64Mi", "512Mi"),
		configure: func(_ *chatv1.ChatCluster, _ string, c *corev1.Container) {
			c.Args = []string{"redis-server", "--appendonly", "yes", "--dir", "/data", "--protected-mode", "no"}
			c.ReadinessProbe = execProbe("redis-cli", "ping")
		},
	},
	{
		name: "mongodb", condition: chatv1.ConditionMongoDBReady,
		spec:   func(s *chatv1.ChatClusterSpec) chatv1.BackendSpec { return s.MongoDB },
		keys:   []secretKey{{key: "uri", env: config.EnvMongoDBURI, required: true}},
		caEnv:  config.EnvMongoDBCAFile,
		urlEnv: config.EnvMongoDBURI,
		url:    func(host string, port int32) string { return fmt.Sprintf("mongodb://%s:%d/chat", host, port) },
		port:   27017, image: func(i Images) string { return i.MongoDB },
		dataPath: "/data/db", defaultStorage: "5Gi", uid: 999,
		resources: requirements("100m", "256Mi", "1Gi"),
		configure: func(_ *chatv1.ChatCluster, _ string, c *corev1.Container) {
			c.Args = []string{"--bind_ip_all"}
			c.ReadinessProbe = execProbe("mongosh", "--quiet", "--eval", "db.adminCommand('ping').ok")
		},
	},
	{
		name: "kafka", condition: chatv1.ConditionKafkaReady, indexer: true,
		spec: func(s *chatv1.ChatClusterSpec) chatv1.BackendSpec { return s.Kafka.BackendSpec },
		keys: []secretKey{
			{key: "brokers", env: config.EnvKafkaBrokers, required: true},
			{key: "username", env: config.EnvKafkaUsername},
			{key: "password", env: config.EnvKafkaPassword},
			{key: "mechanism", env: config.EnvKafkaMechanism},
			{key: kafkaTLSKey, env: config.EnvKafkaTLS},
		},
		caEnv:  config.EnvKafkaCAFile,
		urlEnv: config.EnvKafkaBrokers,
		url:    func(host string, port int32) string { return fmt.Sprintf("%s:%d", host, port) },
		port:   9092, image: func(i Images) string { return i.Kafka },
		dataPath: kafkaDataPath, defaultStorage: "5Gi", uid: 1000,
		resources: requirements("200m", "768Mi", "1Gi"),
		configure: func(cc *chatv1.ChatCluster, host string, c *corev1.Container) {
			// One node that is both broker and KRaft controller; the
			// controller listener stays on localhost. The chat server
			// creates its topic, so a typo in a topic name fails instead
			// of creating another one.
			c.Env = []corev1.EnvVar{
				{Name: "CLUSTER_ID", Value: "Y2hhdGNsdXN0ZXItMDAwMQ"},
				{Name: "KAFKA_NODE_ID", Value: "1"},
				{Name: "KAFKA_PROCESS_ROLES", Value: "broker,controller"},
				{Name: "KAFKA_LISTENERS", Value: "PLAINTEXT://:9092,CONTROLLER://localhost:9093"},
				{Name: "KAFKA_ADVERTISED_LISTENERS", Value: "PLAINTEXT://" + host + ":9092"},
				{Name: "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", Value: "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"},
				{Name: "KAFKA_CONTROLLER_LISTENER_NAMES", Value: "CONTROLLER"},
				{Name: "KAFKA_CONTROLLER_QUORUM_VOTERS", Value: "1@localhost:9093"},
				{Name: "KAFKA_INTER_BROKER_LISTENER_NAME", Value: "PLAINTEXT"},
				{Name: "KAFKA_LOG_DIRS", Value: kafkaLogDirs},
				{Name: "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", Value: "1"},
				{Name: "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", Value: "1"},
				{Name: "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", Value: "1"},
				{Name: "KAFKA_AUTO_CREATE_TOPICS_ENABLE", Value: "false"},
				{Name: "KAFKA_LOG_RETENTION_HOURS", Value: strconv.FormatInt(retentionHours(kafkaRetention(cc)), 10)},
			}
			if heap := jvmHeap(c.Resources); heap != "" {
				c.Env = append(c.Env, corev1.EnvVar{Name: "KAFKA_HEAP_OPTS", Value: heap})
			}
			c.ReadinessProbe = tcpProbe(9092)
		},
	},
	{
		name: "elasticsearch", condition: chatv1.ConditionElasticsearchReady, indexer: true,
		spec: func(s *chatv1.ChatClusterSpec) chatv1.BackendSpec { return s.Elasticsearch.BackendSpec },
		keys: []secretKey{
			{key: "url", env: config.EnvElasticsearchURL, required: true},
			{key: "username", env: config.EnvElasticsearchUsername},
			{key: "password", env: config.EnvElasticsearchPassword},
			{key: "apiKey", env: config.EnvElasticsearchAPIKey},
		},
		caEnv: config.EnvElasticsearchCAFile,
		incomplete: func(data map[string][]byte) string {
			_, user := data["username"]
			_, pass := data["password"]
			_, apiKey := data["apiKey"]
			if apiKey || (user && pass) {
				return ""
			}
			return `has neither "username" and "password" nor "apiKey"`
		},
		urlEnv: config.EnvElasticsearchURL,
		url:    func(host string, port int32) string { return fmt.Sprintf("http://%s:%d", host, port) },
		port:   9200, image: func(i Images) string { return i.Elasticsearch },
		dataPath: "/usr/share/elasticsearch/data", defaultStorage: "5Gi", uid: 1000,
		resources: requirements("200m", "1536Mi", "2Gi"),
		configure: func(_ *chatv1.ChatCluster, _ string, c *corev1.Container) {
			c.Env = []corev1.EnvVar{
				{Name: "discovery.type", Value: "single-node"},
				{Name: "xpack.security.enabled", Value: "false"},
			}
			if heap := jvmHeap(c.Resources); heap != "" {
				c.Env = append(c.Env, corev1.EnvVar{Name: "ES_JAVA_OPTS", Value: heap})
			}
			c.ReadinessProbe = &corev1.Probe{
				ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
					Path: "/_cluster/health?local=true", Port: intstr.FromInt32(9200),
				}},
				PeriodSeconds: 10, TimeoutSeconds: 5,
			}
		},
	},
}

// managed reports whether the operator runs this backend: neither managed
// nor external means managed.
func (b *backend) managed(cc *chatv1.ChatCluster) bool {
	return b.spec(&cc.Spec).External == nil
}

// host is the in-cluster DNS name of the managed backend's Service.
func (b *backend) host(cc *chatv1.ChatCluster) string {
	return fmt.Sprintf("%s-%s.%s.svc", cc.Name, b.name, cc.Namespace)
}

// missing reports what the external Secret lacks, or "" when it is complete.
func (b *backend) missing(secret *corev1.Secret) string {
	for _, k := range b.keys {
		if _, ok := secret.Data[k.key]; k.required && !ok {
			return fmt.Sprintf("has no key %q", k.key)
		}
	}
	if b.incomplete != nil {
		return b.incomplete(secret.Data)
	}
	return ""
}

// headlessService gives the managed backend's pod a stable DNS name. It
// publishes the pod before it is ready so that Kafka can reach itself.
func (b *backend) headlessService(cc *chatv1.ChatCluster) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: objectMeta(cc, b.name),
		Spec: corev1.ServiceSpec{
			ClusterIP:                corev1.ClusterIPNone,
			PublishNotReadyAddresses: true,
			Selector:                 selectorLabels(cc, b.name),
			Ports: []corev1.ServicePort{{
				Name: b.name, Port: b.port, TargetPort: intstr.FromInt32(b.port), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
}

// statefulSet runs the managed backend on one pod with one volume, with
// image unless spec.<backend>.managed.image names another.
func (b *backend) statefulSet(cc *chatv1.ChatCluster, image string) *appsv1.StatefulSet {
	spec := b.spec(&cc.Spec).Managed
	if spec == nil {
		spec = &chatv1.ManagedBackend{}
	}
	if spec.Image != "" {
		image = spec.Image
	}
	storage := resource.MustParse(b.defaultStorage)
	if spec.Storage != nil && !spec.Storage.IsZero() {
		storage = *spec.Storage
	}
	res := b.resources
	if spec.Resources != nil {
		res = *spec.Resources.DeepCopy()
	}

	c := corev1.Container{
		Name:            b.name,
		Image:           image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Ports:           []corev1.ContainerPort{{Name: b.name, ContainerPort: b.port, Protocol: corev1.ProtocolTCP}},
		Resources:       res,
		VolumeMounts:    []corev1.VolumeMount{{Name: "data", MountPath: b.dataPath}},
		LivenessProbe:   tcpProbe(b.port),
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
	c.LivenessProbe.InitialDelaySeconds = 60
	b.configure(cc, b.host(cc), &c)

	pod := corev1.PodSpec{
		AutomountServiceAccountToken: ptr.To(false),
		EnableServiceLinks:           ptr.To(false),
		ImagePullSecrets:             imagePullSecrets(cc),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot: ptr.To(true),
			RunAsUser:    ptr.To(b.uid),
			RunAsGroup:   ptr.To(b.uid),
			FSGroup:      ptr.To(b.uid),
			SeccompProfile: &corev1.SeccompProfile{
				Type: corev1.SeccompProfileTypeRuntimeDefault,
			},
		},
		Containers: []corev1.Container{c},
	}
	schedule(&pod, spec.Scheduling)

	// Retain leaves the volume claim behind when the StatefulSet goes, with
	// the ChatCluster or on a switch to external; a StatefulSet of the same
	// name picks it up again.
	whenDeleted := appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	if !ptr.Deref(spec.RetainOnDelete, true) {
		whenDeleted = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	}
	meta := objectMeta(cc, b.name)
	return &appsv1.StatefulSet{
		ObjectMeta: meta,
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To[int32](1),
			ServiceName: meta.Name,
			Selector:    &metav1.LabelSelector{MatchLabels: selectorLabels(cc, b.name)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: podTemplateMeta(cc, b.name, spec.PodAnnotations, nil),
				Spec:       pod,
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: labels(cc, b.name)},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					StorageClassName: spec.StorageClassName,
					Resources: corev1.VolumeResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceStorage: storage},
					},
				},
			}},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: whenDeleted,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
		},
	}
}

// jvmHeap sizes a JVM's heap (-Xms and -Xmx alike) at half the container's
// memory limit, or of its request when it has no limit, leaving the other
// half to the JVM's own memory and the page cache. "" when neither is set:
// the image's default applies.
func jvmHeap(res corev1.ResourceRequirements) string {
	memory, ok := res.Limits[corev1.ResourceMemory]
	if !ok {
		memory, ok = res.Requests[corev1.ResourceMemory]
	}
	if !ok || memory.IsZero() {
		return ""
	}
	mib := max(memory.Value()/2>>20, 1)
	return fmt.Sprintf("-Xms%dm -Xmx%dm", mib, mib)
}

// kafkaRetention is how long Kafka keeps activity events.
func kafkaRetention(cc *chatv1.ChatCluster) time.Duration {
	if r := cc.Spec.Kafka.Retention; r != nil && r.Duration > 0 {
		return r.Duration
	}
	return 7 * 24 * time.Hour
}

// elasticsearchRetention is how long activity events stay searchable.
func elasticsearchRetention(cc *chatv1.ChatCluster) time.Duration {
	if r := cc.Spec.Elasticsearch.Retention; r != nil && r.Duration > 0 {
		return r.Duration
	}
	return 30 * 24 * time.Hour
}

// retentionHours rounds d up to whole hours, the unit of Kafka's broker
// default; the topic the chat server creates carries the exact retention.
func retentionHours(d time.Duration) int64 {
	return max(int64((d+time.Hour-1)/time.Hour), 1)
}

func requirements(cpu, memory, memoryLimit string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse(cpu),
			corev1.ResourceMemory: resource.MustParse(memory),
		},
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(memoryLimit)},
	}
}

func tcpProbe(port int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(port)}},
		PeriodSeconds: 10, TimeoutSeconds: 5,
	}
}

func execProbe(command ...string) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: command}},
		PeriodSeconds: 10, TimeoutSeconds: 5,
	}
}
