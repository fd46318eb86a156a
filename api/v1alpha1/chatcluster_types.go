package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ChatClusterSpec is what a platform engineer asks for. Every field is
// optional: `spec: {}` runs the chat server with every backend managed by the
// operator, which is what a kind cluster wants.
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
	Elasticsearch BackendSpec `json:"elasticsearch,omitempty"`
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
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
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

	// Conditions: Ready, Progressing, Degraded, ChatServerAvailable and one
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
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.version`
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

func init() {
	SchemeBuilder.Register(&ChatCluster{}, &ChatClusterList{})
}
