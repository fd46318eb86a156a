package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ChatClusterSpec is what a platform engineer asks for. Every field is
// optional: `spec: {}` runs the chat server with every backend managed by the
// operator, which is what a kind cluster wants.
//
// In proxy mode the operator's Ingress must take the user header from an
// authentication service: an ingress controller passes a client's own
// header through, so without auth.authURL anyone could claim to be anyone.
// +kubebuilder:validation:XValidation:rule="!has(self.auth) || !has(self.auth.mode) || self.auth.mode != 'proxy' || (has(self.auth.authURL) && size(self.auth.authURL) > 0) || (has(self.ingress) && has(self.ingress.enabled) && !self.ingress.enabled)",message="auth.authURL is required when auth.mode is proxy and the operator's Ingress is enabled: without an authentication service the Ingress would pass on the user header a client sends; set auth.authURL, or set ingress.enabled: false and route your authenticating proxy to the chat-server Service"
type ChatClusterSpec struct {
	// Version of the chat server; the image tag unless image is set.
	// +kubebuilder:default="0.1.0"
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Version string `json:"version,omitempty"`

	// Image is a full image reference that overrides the one derived from version.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Image string `json:"image,omitempty"`

	// Replicas of the chat server. Left alone when autoscaling is enabled.
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// Resources of the chat-server container. Zero means a small default request.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// Autoscaling adds a HorizontalPodAutoscaler on CPU when enabled.
	// +kubebuilder:default={}
	// +optional
	Autoscaling AutoscalingSpec `json:"autoscaling,omitempty"`

	// Auth selects how users sign in.
	// +kubebuilder:default={}
	// +optional
	Auth AuthSpec `json:"auth,omitempty"`

	// Ingress exposes the chat server through an ingress controller.
	// +kubebuilder:default={}
	// +optional
	Ingress IngressSpec `json:"ingress,omitempty"`

	// Redis holds presence, sessions and fan-out between chat-server replicas.
	// +kubebuilder:default={}
	// +optional
	Redis BackendSpec `json:"redis,omitempty"`

	// MongoDB stores users, rooms and messages.
	// +kubebuilder:default={}
	// +optional
	MongoDB BackendSpec `json:"mongodb,omitempty"`

	// Kafka carries the activity stream from the chat server to the indexer.
	// +kubebuilder:default={}
	// +optional
	Kafka KafkaSpec `json:"kafka,omitempty"`

	// Elasticsearch holds the analytics index the indexer writes.
	// +kubebuilder:default={}
	// +optional
	Elasticsearch ElasticsearchSpec `json:"elasticsearch,omitempty"`

	// Scheduling places the chat-server and indexer pods. Without
	// topologySpreadConstraints the chat-server replicas are spread across
	// nodes (and zones) as far as the cluster allows.
	// +optional
	Scheduling Scheduling `json:"scheduling,omitempty"`

	// ImagePullSecrets are used by every pod of this ChatCluster, the managed
	// backends' included.
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	// +optional
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// PodAnnotations are added to the chat-server and indexer pods.
	// +optional
	PodAnnotations map[string]string `json:"podAnnotations,omitempty"`

	// Monitoring creates a PodMonitor for the Prometheus Operator when its
	// CRDs are installed.
	// +kubebuilder:default={}
	// +optional
	Monitoring MonitoringSpec `json:"monitoring,omitempty"`
}

// Scheduling is where a workload's pods may run.
type Scheduling struct {
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// +kubebuilder:validation:MaxItems=50
	// +listType=atomic
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// TopologySpreadConstraints replace the operator's default spread.
	// +kubebuilder:validation:MaxItems=10
	// +listType=atomic
	// +optional
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	// PriorityClassName of the pods.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`
}

// MonitoringSpec configures scraping by the Prometheus Operator.
type MonitoringSpec struct {
	// Enabled creates a PodMonitor for the chat server and the indexer when
	// the monitoring.coreos.com CRDs exist; nothing otherwise.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// Labels are added to the PodMonitor, for a Prometheus that selects by label.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
}

// AutoscalingSpec bounds the HorizontalPodAutoscaler of the chat server.
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",message="autoscaling.minReplicas must not exceed autoscaling.maxReplicas"
type AutoscalingSpec struct {
	// Enabled adds the HorizontalPodAutoscaler; spec.replicas is then ignored.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// MinReplicas is the lower bound of the autoscaler.
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	MinReplicas int32 `json:"minReplicas,omitempty"`

	// MaxReplicas is the upper bound of the autoscaler.
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	MaxReplicas int32 `json:"maxReplicas,omitempty"`

	// TargetCPUUtilizationPercentage is the average CPU use, in percent of the
	// request, the autoscaler aims at.
	// +kubebuilder:default=70
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	TargetCPUUtilizationPercentage int32 `json:"targetCPUUtilizationPercentage,omitempty"`
}

// AuthMode is how the chat server authenticates users.
// +kubebuilder:validation:Enum=password;proxy
type AuthMode string

const (
	// AuthModePassword keeps accounts and passwords in the chat server.
	AuthModePassword AuthMode = "password"
	// AuthModeProxy trusts a header set by an authenticating reverse proxy.
	AuthModeProxy AuthMode = "proxy"
)

// AuthSpec selects how users sign in.
// +kubebuilder:validation:XValidation:rule="!has(self.mode) || self.mode != 'proxy' || (has(self.proxyHeader) && size(self.proxyHeader) > 0)",message="auth.proxyHeader is required when auth.mode is proxy"
// +kubebuilder:validation:XValidation:rule="!has(self.mode) || self.mode != 'proxy' || (has(self.trustedProxies) && size(self.trustedProxies) > 0)",message="auth.trustedProxies is required when auth.mode is proxy: the CIDRs of the proxies allowed to set the user header"
type AuthSpec struct {
	// Mode is password (accounts in the chat server) or proxy (a trusted header).
	// +kubebuilder:default=password
	// +optional
	Mode AuthMode `json:"mode,omitempty"`

	// ProxyHeader names the header that carries the user id in proxy mode.
	// +kubebuilder:default=X-Forwarded-User
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self == '' || self.matches('^[A-Za-z0-9-]+$')",message="auth.proxyHeader must be an HTTP header name"
	// +optional
	ProxyHeader string `json:"proxyHeader,omitempty"`

	// TrustedProxies are the CIDRs (or addresses) of the proxies allowed to
	// set proxyHeader; required in proxy mode. Requests from anywhere else
	// never authenticate by the header. In any mode their X-Forwarded-For
	// names the client for the per-address limits (connections, sign-in
	// failures, registrations); behind the operator's Ingress without
	// trusted proxies those limits are off, since every client would share
	// the ingress controller's address.
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.all(c, isCIDR(c) || isIP(c))",message="auth.trustedProxies must be CIDRs such as 10.0.0.0/8 or IP addresses"
	// +listType=set
	// +optional
	TrustedProxies []string `json:"trustedProxies,omitempty"`

	// AuthURL, in proxy mode, is the URL of an authentication service that
	// the Ingress asks about every request (ingress-nginx external auth); the
	// Ingress then sets proxyHeader from its answer, never from the client.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self == '' || isURL(self)",message="auth.authURL must be a URL"
	// +optional
	AuthURL string `json:"authURL,omitempty"`

	// Admins are the user ids with administrator rights.
	// +kubebuilder:validation:MaxItems=100
	// +listType=set
	// +optional
	Admins []string `json:"admins,omitempty"`
}

// IngressSpec exposes the chat server through an ingress controller, with
// WebSocket-friendly timeouts for ingress-nginx.
type IngressSpec struct {
	// Enabled creates the Ingress.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// Host is the DNS name the chat is served on.
	// +kubebuilder:default=chat.localtest.me
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$')",message="ingress.host must be a lower-case DNS name such as chat.example.com"
	// +optional
	Host string `json:"host,omitempty"`

	// ClassName is the IngressClass to use.
	// +kubebuilder:default=nginx
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ClassName string `json:"className,omitempty"`

	// TLSSecretName, when set, serves the host over HTTPS with this Secret.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	TLSSecretName string `json:"tlsSecretName,omitempty"`

	// Annotations are merged over the operator's WebSocket-friendly defaults.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// BackendSpec says who runs a backend: the operator (managed) or someone else
// (external). Neither means managed.
// +kubebuilder:validation:XValidation:rule="!(has(self.managed) && has(self.external))",message="set exactly one of managed and external"
type BackendSpec struct {
	// Managed runs a single-node StatefulSet: for development and kind, not
	// for production.
	// +optional
	Managed *ManagedBackend `json:"managed,omitempty"`

	// External points at a backend run elsewhere, through a Secret.
	// +optional
	External *ExternalBackend `json:"external,omitempty"`
}

// KafkaSpec is a BackendSpec, with its rule, and the topic of the activity stream.
type KafkaSpec struct {
	BackendSpec `json:",inline"`

	// Topic of the activity stream.
	// +kubebuilder:default=chat.activity
	// +kubebuilder:validation:MaxLength=249
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9._-]+$`
	// +optional
	Topic string `json:"topic,omitempty"`

	// Partitions of the topic when the chat server creates it.
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Partitions int32 `json:"partitions,omitempty"`

	// ReplicationFactor of the topic when the chat server creates it; -1
	// means the brokers' default. A managed Kafka has one broker: 1.
	// +kubebuilder:validation:Minimum=-1
	// +kubebuilder:validation:Maximum=32
	// +optional
	ReplicationFactor *int32 `json:"replicationFactor,omitempty"`

	// Retention is how long Kafka keeps activity events; at least a minute.
	// +kubebuilder:default="168h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="kafka.retention must be at least 1m"
	// +optional
	Retention *metav1.Duration `json:"retention,omitempty"`
}

// ElasticsearchSpec is a BackendSpec, with its rule, and how long the index
// keeps activity events.
type ElasticsearchSpec struct {
	BackendSpec `json:",inline"`

	// Retention is how long activity events stay searchable; at least an hour.
	// +kubebuilder:default="720h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1h')",message="elasticsearch.retention must be at least 1h"
	// +optional
	Retention *metav1.Duration `json:"retention,omitempty"`
}

// ManagedBackend sizes a backend the operator runs.
type ManagedBackend struct {
	// Storage is the size of the data volume; zero means the backend's default.
	// +optional
	Storage *resource.Quantity `json:"storage,omitempty"`

	// StorageClassName of the data volume; empty means the cluster's default.
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`

	// Image overrides the operator's pinned image for this backend.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Image string `json:"image,omitempty"`

	// Resources of the backend container; zero means the backend's default.
	// The JVM heap of Kafka and Elasticsearch is half the memory limit.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// RetainOnDelete keeps the data volume when the backend stops being
	// managed (switched to external) or the ChatCluster is deleted; a
	// ChatCluster of the same name managing it again reuses it. Set false to
	// delete the data with the backend.
	// +kubebuilder:default=true
	// +optional
	RetainOnDelete *bool `json:"retainOnDelete,omitempty"`

	// Scheduling places the backend's pod.
	// +optional
	Scheduling Scheduling `json:"scheduling,omitempty"`

	// PodAnnotations are added to the backend's pod.
	// +optional
	PodAnnotations map[string]string `json:"podAnnotations,omitempty"`
}

// ExternalBackend names the Secret, in the ChatCluster's namespace, that holds
// how to reach a backend. See docs/operator.md for the keys of each backend.
type ExternalBackend struct {
	// SecretName is the name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	SecretName string `json:"secretName"`
}

// ChatClusterStatus is what the operator reports back.
type ChatClusterStatus struct {
	// ObservedGeneration is the generation of the spec this status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Replicas is the number of chat-server pods.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// ReadyReplicas is the number of chat-server pods that are ready.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// Endpoint is the URL the chat is served on.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// Version is the chat-server version the pods run once rolled out.
	// +optional
	Version string `json:"version,omitempty"`

	// Images are the images each component runs, by component (chat-server,
	// indexer, redis, mongodb, kafka, elasticsearch). A managed backend keeps
	// the image recorded here when the operator's pinned image changes; it
	// moves to the new one when its spec changes or the ChatCluster carries
	// the annotation chat.chatcluster.io/upgrade-backends.
	// +optional
	Images map[string]string `json:"images,omitempty"`

	// Conditions: Ready, Progressing, Degraded, ChatServerAvailable,
	// IndexerAvailable, StorageResized, Paused (while paused) and one
	// <Backend>Ready per backend.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ChatCluster is a chat platform: the chat server, its indexer and their
// backends.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=chat,categories=chatcluster
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.status.replicas`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.status.endpoint`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.version`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ChatCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:default={}
	// +optional
	Spec   ChatClusterSpec   `json:"spec,omitempty"`
	Status ChatClusterStatus `json:"status,omitempty"`
}

// ChatClusterList is a list of ChatClusters.
//
// +kubebuilder:object:root=true
type ChatClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ChatCluster `json:"items"`
}
