package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
	"github.com/chatcluster/chatcluster/chatserver/config"
)

const (
	// chatPort serves the chat: the web client, the REST API and WebSockets.
	chatPort = 8080
	// managementPort serves /healthz, /readyz and /metrics, away from the
	// Service and the Ingress.
	managementPort = 9090
	// configHashAnnotation on the pod templates holds a hash of the
	// configuration and of every Secret the pods read, so that a change to
	// any of them rolls the pods.
	configHashAnnotation = "chat.chatcluster.io/config-hash"
	// Keys of the generated Secret.
	sessionKeyKey    = "session-key"
	adminPasswordKey = "admin-password"
	dataDir          = "/var/lib/chatcluster"
	caDir            = "/etc/chatcluster/ca"
)

// ingressDefaults keep WebSocket connections open through ingress-nginx;
// spec.ingress.annotations are merged over them.
var ingressDefaults = map[string]string{
	"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
	"nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
	"nginx.ingress.kubernetes.io/proxy-body-size":    "8m",
}

// ingress-nginx external authentication: every request is first sent to
// the auth URL, and the listed headers of its answer replace the client's.
const (
	authURLAnnotation             = "nginx.ingress.kubernetes.io/auth-url"
	authResponseHeadersAnnotation = "nginx.ingress.kubernetes.io/auth-response-headers"
)

// chatServerName is the name of the chat server's Deployment, Service,
// ServiceAccount, ConfigMap, generated Secret, Ingress, PDB and HPA.
func chatServerName(cc *chatv1.ChatCluster) string { return cc.Name + "-" + componentChatServer }

func ingressEnabled(cc *chatv1.ChatCluster) bool {
	return cc.Spec.Ingress.Enabled == nil || *cc.Spec.Ingress.Enabled
}

// endpoint is the URL the chat is served on: the Ingress host when there is
// one, the in-cluster Service otherwise.
func endpoint(cc *chatv1.ChatCluster) string {
	if !ingressEnabled(cc) || cc.Spec.Ingress.Host == "" {
		return fmt.Sprintf("http://%s.%s.svc", chatServerName(cc), cc.Namespace)
	}
	if cc.Spec.Ingress.TLSSecretName != "" {
		return "https://" + cc.Spec.Ingress.Host
	}
	return "http://" + cc.Spec.Ingress.Host
}

// chatServerImage is spec.image, or the pinned repository tagged spec.version.
func chatServerImage(cc *chatv1.ChatCluster, images Images) string {
	if cc.Spec.Image != "" {
		return cc.Spec.Image
	}
	version := cc.Spec.Version
	if version == "" {
		version = "0.1.0"
	}
	return images.ChatServer + ":" + version
}

// configMap holds the settings the chat server and the indexer share, read
// through envFrom. What differs between them (the CA files each one mounts)
// is in each container's env.
func configMap(cc *chatv1.ChatCluster, observed []backendState) *corev1.ConfigMap {
	data := map[string]string{
		config.EnvAddr:                   fmt.Sprintf(":%d", chatPort),
		config.EnvManagementAddr:         fmt.Sprintf(":%d", managementPort),
		config.EnvDataDir:                dataDir,
		config.EnvAdmins:                 strings.Join(cc.Spec.Auth.Admins, ","),
		config.EnvAuthMode:               string(cc.Spec.Auth.Mode),
		config.EnvKafkaTopic:             cc.Spec.Kafka.Topic,
		config.EnvKafkaPartitions:        strconv.Itoa(int(kafkaPartitions(cc))),
		config.EnvKafkaReplicationFactor: strconv.Itoa(int(kafkaReplicationFactor(cc))),
		config.EnvKafkaRetention:         kafkaRetention(cc).String(),
		config.EnvElasticsearchRetention: elasticsearchRetention(cc).String(),
		config.EnvAllowedOrigins:         "",
	}
	if data[config.EnvAuthMode] == "" {
		data[config.EnvAuthMode] = string(chatv1.AuthModePassword)
	}
	if data[config.EnvKafkaTopic] == "" {
		data[config.EnvKafkaTopic] = "chat.activity"
	}
	if cc.Spec.Auth.Mode == chatv1.AuthModeProxy {
		data[config.EnvProxyHeader] = cc.Spec.Auth.ProxyHeader
	}
	// The trusted proxies' X-Forwarded-For names the client for the
	// per-address limits in any mode. Behind an Ingress whose addresses
	// are not trusted, every client would share the ingress controller's
	// address: one client's limits would be everyone's, so those limits
	// are off and the per-user ones remain.
	if len(cc.Spec.Auth.TrustedProxies) > 0 {
		data[config.EnvTrustedProxies] = strings.Join(cc.Spec.Auth.TrustedProxies, ",")
	} else if ingressEnabled(cc) {
		for _, env := range perAddressLimits {
			data[env] = "0"
		}
	}
	if ingressEnabled(cc) && cc.Spec.Ingress.Host != "" {
		data[config.EnvAllowedOrigins] = endpoint(cc)
	}
	for _, s := range observed {
		if s.managed {
			data[s.backend.urlEnv] = s.backend.url(s.backend.host(cc), s.backend.port)
		}
	}
	return &corev1.ConfigMap{ObjectMeta: objectMeta(cc, componentChatServer), Data: data}
}

// kafkaPartitions of the activity topic when the chat server creates it.
func kafkaPartitions(cc *chatv1.ChatCluster) int32 {
	if cc.Spec.Kafka.Partitions < 1 {
		return 3
	}
	return cc.Spec.Kafka.Partitions
}

// kafkaReplicationFactor of the activity topic: a managed Kafka has one
// broker; for an external one, the spec's, or -1 for the brokers' default.
func kafkaReplicationFactor(cc *chatv1.ChatCluster) int32 {
	if cc.Spec.Kafka.External == nil {
		return 1
	}
	return ptr.Deref(cc.Spec.Kafka.ReplicationFactor, -1)
}

// generatedSecret holds the session-signing key and the initial admin
// password. Values already in live are kept; missing ones are generated.
func generatedSecret(cc *chatv1.ChatCluster, live *corev1.Secret, random func(n int) string) *corev1.Secret {
	data := map[string][]byte{}
	for _, key := range []string{sessionKeyKey, adminPasswordKey} {
		if v, ok := live.Data[key]; ok && len(v) > 0 {
			data[key] = v
		} else {
			data[key] = []byte(random(32))
		}
	}
	return &corev1.Secret{
		ObjectMeta: objectMeta(cc, componentChatServer),
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
}

// configHash hashes the configuration and every Secret the pods read.
func configHash(cm *corev1.ConfigMap, generated *corev1.Secret, observed []backendState) string {
	h := sha256.New()
	writeSorted := func(m map[string][]byte) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(h, "%s=%x;", k, m[k])
		}
	}
	cmData := make(map[string][]byte, len(cm.Data))
	for k, v := range cm.Data {
		cmData[k] = []byte(v)
	}
	writeSorted(cmData)
	writeSorted(generated.Data)
	for _, s := range observed {
		if s.secret != nil {
			fmt.Fprintf(h, "secret %s:", s.secret.Name)
			writeSorted(s.secret.Data)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func serviceAccount(cc *chatv1.ChatCluster) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		ObjectMeta:                   objectMeta(cc, componentChatServer),
		AutomountServiceAccountToken: ptr.To(false),
	}
}

func chatService(cc *chatv1.ChatCluster) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: objectMeta(cc, componentChatServer),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: selectorLabels(cc, componentChatServer),
			Ports: []corev1.ServicePort{{
				Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
}

// chatServerDeployment runs the chat server. Its replicas are left unset when
// autoscaling is on, so that the HorizontalPodAutoscaler owns them.
func chatServerDeployment(cc *chatv1.ChatCluster, images Images, observed []backendState, hash string) *appsv1.Deployment {
	env := []corev1.EnvVar{
		secretEnv(config.EnvSessionKey, chatServerName(cc), sessionKeyKey, false),
		secretEnv(config.EnvAdminPassword, chatServerName(cc), adminPasswordKey, false),
	}
	var replicas *int32
	if !cc.Spec.Autoscaling.Enabled {
		replicas = ptr.To(ptr.Deref(cc.Spec.Replicas, 2))
	}
	res := *cc.Spec.Resources.DeepCopy()
	if len(res.Requests) == 0 && len(res.Limits) == 0 {
		res = requirements("100m", "128Mi", "512Mi")
	}
	return workload(cc, componentChatServer, images, observed, hash, workloadOptions{
		replicas: replicas, env: env, resources: res, all: true, serves: true,
		spread: defaultSpread(cc),
	})
}

// defaultSpread spreads the chat-server replicas over nodes and zones as far
// as the cluster allows, so that losing one takes few of them; it never
// keeps a pod from being scheduled. Only pods of the same rollout count.
func defaultSpread(cc *chatv1.ChatCluster) []corev1.TopologySpreadConstraint {
	var out []corev1.TopologySpreadConstraint
	for _, key := range []string{corev1.LabelHostname, corev1.LabelTopologyZone} {
		out = append(out, corev1.TopologySpreadConstraint{
			MaxSkew:           1,
			TopologyKey:       key,
			WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector:     &metav1.LabelSelector{MatchLabels: selectorLabels(cc, componentChatServer)},
			MatchLabelKeys:    []string{appsv1.DefaultDeploymentUniqueLabelKey},
		})
	}
	return out
}

// indexerDeployment runs the same image as `chatserver index`: it consumes
// the activity topic and writes the analytics index.
func indexerDeployment(cc *chatv1.ChatCluster, images Images, observed []backendState, hash string) *appsv1.Deployment {
	// The indexer signs no one in: without admins it needs no admin
	// password, which stays the chat server's alone.
	env := []corev1.EnvVar{{Name: config.EnvAdmins, Value: ""}}
	return workload(cc, componentIndexer, images, observed, hash, workloadOptions{
		replicas: ptr.To[int32](1), args: []string{"index"}, env: env,
		resources: requirements("50m", "64Mi", "256Mi"),
	})
}

type workloadOptions struct {
	replicas  *int32
	args      []string
	env       []corev1.EnvVar
	resources corev1.ResourceRequirements
	// all: every backend's Secret, not only the indexer's (Kafka, Elasticsearch).
	all bool
	// serves: the chat on chatPort, besides the management port.
	serves bool
	// spread applies when spec.scheduling has no topologySpreadConstraints.
	spread []corev1.TopologySpreadConstraint
}

// workload is the Deployment shape the chat server and the indexer share:
// non-root, read-only root filesystem, settings from the ConfigMap,
// credentials by reference to Secrets, each external backend's CA mounted
// from its Secret, probes on the management port.
func workload(cc *chatv1.ChatCluster, component string, images Images, observed []backendState, hash string, o workloadOptions) *appsv1.Deployment {
	env := o.env
	volumes := []corev1.Volume{
		{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	mounts := []corev1.VolumeMount{
		{Name: "data", MountPath: dataDir},
		{Name: "tmp", MountPath: "/tmp"},
	}
	for _, s := range observed {
		if s.managed || (!o.all && !s.backend.indexer) {
			continue
		}
		name := s.backend.spec(&cc.Spec).External.SecretName
		for _, k := range s.backend.keys {
			env = append(env, secretEnv(k.env, name, k.key, !k.required))
		}
		if s.hasCA() {
			vol := "ca-" + s.backend.name
			volumes = append(volumes, corev1.Volume{Name: vol, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: name, Items: []corev1.KeyToPath{{Key: caKey, Path: caKey}},
			}}})
			mounts = append(mounts, corev1.VolumeMount{Name: vol, MountPath: caDir + "/" + s.backend.name, ReadOnly: true})
			env = append(env, corev1.EnvVar{Name: s.backend.caEnv, Value: caFile(s.backend)})
		}
	}

	probe := func(path string, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: path, Port: intstr.FromString("metrics"),
			}},
			PeriodSeconds: period, TimeoutSeconds: 3, FailureThreshold: 3,
		}
	}
	var ports []corev1.ContainerPort
	if o.serves {
		ports = append(ports, corev1.ContainerPort{Name: "http", ContainerPort: chatPort, Protocol: corev1.ProtocolTCP})
	}
	ports = append(ports, corev1.ContainerPort{Name: "metrics", ContainerPort: managementPort, Protocol: corev1.ProtocolTCP})

	pod := corev1.PodSpec{
		ServiceAccountName:           chatServerName(cc),
		AutomountServiceAccountToken: ptr.To(false),
		EnableServiceLinks:           ptr.To(false),
		ImagePullSecrets:             imagePullSecrets(cc),
		// No user, group or fsGroup: the image runs as 65532, and a
		// platform that assigns each namespace its own UID range
		// (OpenShift's restricted SCC) picks one from it. Both volumes
		// are emptyDirs, writable by any user.
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptr.To(true),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{{
			Name:            component,
			Image:           chatServerImage(cc, images),
			ImagePullPolicy: corev1.PullIfNotPresent,
			Args:            o.args,
			Ports:           ports,
			EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: chatServerName(cc)},
			}}},
			Env:            env,
			Resources:      o.resources,
			VolumeMounts:   mounts,
			LivenessProbe:  probe("/healthz", 10),
			ReadinessProbe: probe("/readyz", 5),
			SecurityContext: &corev1.SecurityContext{
				RunAsNonRoot:             ptr.To(true),
				ReadOnlyRootFilesystem:   ptr.To(true),
				AllowPrivilegeEscalation: ptr.To(false),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
		}},
		Volumes: volumes,
	}
	schedule(&pod, cc.Spec.Scheduling)
	if len(pod.TopologySpreadConstraints) == 0 {
		pod.TopologySpreadConstraints = o.spread
	}

	return &appsv1.Deployment{
		ObjectMeta: objectMeta(cc, component),
		Spec: appsv1.DeploymentSpec{
			Replicas: o.replicas,
			Selector: &metav1.LabelSelector{MatchLabels: selectorLabels(cc, component)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: podTemplateMeta(cc, component, cc.Spec.PodAnnotations, map[string]string{configHashAnnotation: hash}),
				Spec:       pod,
			},
		},
	}
}

// caFile is where a backend's CA certificate is mounted.
func caFile(b *backend) string { return caDir + "/" + b.name + "/" + caKey }

func secretEnv(env, secret, key string, optional bool) corev1.EnvVar {
	ref := &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key}
	if optional {
		ref.Optional = ptr.To(true)
	}
	return corev1.EnvVar{Name: env, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: ref}}
}

// perAddressLimits are the chat server's limits counted per client
// address, turned off behind an Ingress that is not trusted.
var perAddressLimits = []string{
	config.EnvMaxConnectionsPerAddress, config.EnvMaxUnauthenticatedPerAddress, config.EnvMaxSocketsPerAddress,
	config.EnvSignInAddrFailures, config.EnvSignupsPerAddress,
}

func chatIngress(cc *chatv1.ChatCluster) *networkingv1.Ingress {
	meta := objectMeta(cc, componentChatServer)
	meta.Annotations = map[string]string{}
	for k, v := range ingressDefaults {
		meta.Annotations[k] = v
	}
	for k, v := range cc.Spec.Ingress.Annotations {
		meta.Annotations[k] = v
	}
	if auth := cc.Spec.Auth; auth.Mode == chatv1.AuthModeProxy && auth.AuthURL != "" {
		// The user header reaches the chat server from the auth service's
		// answer only: ingress-nginx sets it from there and drops the
		// client's.
		meta.Annotations[authURLAnnotation] = auth.AuthURL
		meta.Annotations[authResponseHeadersAnnotation] = withHeader(meta.Annotations[authResponseHeadersAnnotation], auth.ProxyHeader)
	}
	spec := networkingv1.IngressSpec{
		Rules: []networkingv1.IngressRule{{
			Host: cc.Spec.Ingress.Host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{
					Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix),
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: chatServerName(cc), Port: networkingv1.ServiceBackendPort{Name: "http"},
					}},
				}},
			}},
		}},
	}
	if cc.Spec.Ingress.ClassName != "" {
		spec.IngressClassName = ptr.To(cc.Spec.Ingress.ClassName)
	}
	if cc.Spec.Ingress.TLSSecretName != "" {
		spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{cc.Spec.Ingress.Host}, SecretName: cc.Spec.Ingress.TLSSecretName}}
	}
	return &networkingv1.Ingress{ObjectMeta: meta, Spec: spec}
}

// withHeader adds header to a comma-separated list of header names unless
// it is there already.
func withHeader(list, header string) string {
	var names []string
	for _, h := range strings.Split(list, ",") {
		if h = strings.TrimSpace(h); h != "" {
			names = append(names, h)
		}
	}
	if !slices.ContainsFunc(names, func(h string) bool { return strings.EqualFold(h, header) }) {
		names = append(names, header)
	}
	return strings.Join(names, ",")
}

// minReplicas is the fewest chat-server pods the spec asks for.
func minReplicas(cc *chatv1.ChatCluster) int32 {
	if cc.Spec.Autoscaling.Enabled {
		return cc.Spec.Autoscaling.MinReplicas
	}
	return ptr.Deref(cc.Spec.Replicas, 2)
}

// wantPDB: a disruption budget only makes sense with two pods or more.
func wantPDB(cc *chatv1.ChatCluster) bool { return minReplicas(cc) >= 2 }

func chatPDB(cc *chatv1.ChatCluster) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: objectMeta(cc, componentChatServer),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: selectorLabels(cc, componentChatServer)},
		},
	}
}

func chatHPA(cc *chatv1.ChatCluster) *autoscalingv2.HorizontalPodAutoscaler {
	a := cc.Spec.Autoscaling
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: objectMeta(cc, componentChatServer),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{
				APIVersion: "apps/v1", Kind: "Deployment", Name: chatServerName(cc),
			},
			MinReplicas: ptr.To(a.MinReplicas),
			MaxReplicas: a.MaxReplicas,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{
						Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(a.TargetCPUUtilizationPercentage),
					},
				},
			}},
		},
	}
}

// backendPolicy lets only the chat server and the indexer reach the managed
// backends of this ChatCluster.
func backendPolicy(cc *chatv1.ChatCluster) *networkingv1.NetworkPolicy {
	var managed []string
	var ports []networkingv1.NetworkPolicyPort
	for _, b := range backends {
		if b.managed(cc) {
			managed = append(managed, b.name)
			ports = append(ports, networkingv1.NetworkPolicyPort{
				Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(b.port)),
			})
		}
	}
	instance := func(components ...string) *metav1.LabelSelector {
		return &metav1.LabelSelector{
			MatchLabels: map[string]string{"app.kubernetes.io/name": "chatcluster", "app.kubernetes.io/instance": cc.Name},
			MatchExpressions: []metav1.LabelSelectorRequirement{{
				Key: "app.kubernetes.io/component", Operator: metav1.LabelSelectorOpIn, Values: components,
			}},
		}
	}
	return &networkingv1.NetworkPolicy{
		ObjectMeta: objectMeta(cc, "backends"),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: *instance(managed...),
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{PodSelector: instance(componentChatServer, componentIndexer)}},
				Ports: ports,
			}},
		},
	}
}
