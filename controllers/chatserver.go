package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
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
)

const (
	chatPort = 8080
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

// configMap holds the chat server's non-secret settings, read through envFrom.
func configMap(cc *chatv1.ChatCluster, observed []backendState) *corev1.ConfigMap {
	data := map[string]string{
		"CHAT_ADDR":            fmt.Sprintf(":%d", chatPort),
		"CHAT_DATA_DIR":        dataDir,
		"CHAT_ADMINS":          strings.Join(cc.Spec.Auth.Admins, ","),
		"CHAT_AUTH_MODE":       string(cc.Spec.Auth.Mode),
		"CHAT_KAFKA_TOPIC":     cc.Spec.Kafka.Topic,
		"CHAT_ALLOWED_ORIGINS": "",
	}
	if data["CHAT_AUTH_MODE"] == "" {
		data["CHAT_AUTH_MODE"] = string(chatv1.AuthModePassword)
	}
	if data["CHAT_KAFKA_TOPIC"] == "" {
		data["CHAT_KAFKA_TOPIC"] = "chat.activity"
	}
	if cc.Spec.Auth.Mode == chatv1.AuthModeProxy {
		data["CHAT_PROXY_HEADER"] = cc.Spec.Auth.ProxyHeader
	}
	if ingressEnabled(cc) && cc.Spec.Ingress.Host != "" {
		data["CHAT_ALLOWED_ORIGINS"] = endpoint(cc)
	}
	for _, s := range observed {
		if s.managed {
			data[s.backend.urlEnv] = s.backend.url(s.backend.host(cc), s.backend.port)
		} else if _, ok := data["CHAT_CA_FILE"]; !ok && s.hasCA() {
			// The chat server trusts one CA file: the first backend's that has one.
			data["CHAT_CA_FILE"] = caDir + "/" + s.backend.name + "/" + caKey
		}
	}
	return &corev1.ConfigMap{ObjectMeta: objectMeta(cc, componentChatServer), Data: data}
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
		secretEnv("CHAT_SESSION_KEY", chatServerName(cc), sessionKeyKey, false),
		secretEnv("CHAT_ADMIN_PASSWORD", chatServerName(cc), adminPasswordKey, false),
	}
	var replicas *int32
	if !cc.Spec.Autoscaling.Enabled {
		replicas = ptr.To(ptr.Deref(cc.Spec.Replicas, 2))
	}
	res := cc.Spec.Resources
	if len(res.Requests) == 0 && len(res.Limits) == 0 {
		res = requirements("100m", "128Mi", "512Mi")
	}
	return workload(cc, componentChatServer, images, observed, hash, workloadOptions{
		replicas: replicas, env: env, resources: res, all: true,
	})
}

// indexerDeployment runs the same image as `chatserver index`: it consumes
// the activity topic and writes the analytics index.
func indexerDeployment(cc *chatv1.ChatCluster, images Images, observed []backendState, hash string) *appsv1.Deployment {
	return workload(cc, componentIndexer, images, observed, hash, workloadOptions{
		replicas: ptr.To[int32](1), args: []string{"index"},
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
}

// workload is the Deployment shape the chat server and the indexer share:
// non-root, read-only root filesystem, settings from the ConfigMap,
// credentials by reference to Secrets, probes on /healthz and /readyz.
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
		if s.managed || !(o.all || s.backend.indexer) {
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
		}
	}

	probe := func(path string, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: path, Port: intstr.FromString("http"),
			}},
			PeriodSeconds: period, TimeoutSeconds: 3, FailureThreshold: 3,
		}
	}
	meta := objectMeta(cc, component)
	return &appsv1.Deployment{
		ObjectMeta: meta,
		Spec: appsv1.DeploymentSpec{
			Replicas: o.replicas,
			Selector: &metav1.LabelSelector{MatchLabels: selectorLabels(cc, component)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      labels(cc, component),
					Annotations: map[string]string{configHashAnnotation: hash},
				},
				Spec: corev1.PodSpec{
					ServiceAccountName:           chatServerName(cc),
					AutomountServiceAccountToken: ptr.To(false),
					EnableServiceLinks:           ptr.To(false),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						RunAsUser:      ptr.To[int64](65532),
						RunAsGroup:     ptr.To[int64](65532),
						FSGroup:        ptr.To[int64](65532),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:            component,
						Image:           chatServerImage(cc, images),
						ImagePullPolicy: corev1.PullIfNotPresent,
						Args:            o.args,
						Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: chatPort, Protocol: corev1.ProtocolTCP}},
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
				},
			},
		},
	}
}

func secretEnv(env, secret, key string, optional bool) corev1.EnvVar {
	ref := &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key}
	if optional {
		ref.Optional = ptr.To(true)
	}
	return corev1.EnvVar{Name: env, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: ref}}
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
