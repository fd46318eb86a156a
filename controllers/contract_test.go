package controllers

import (
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
	"github.com/chatcluster/chatcluster/chatserver/config"
)

// The chat server's configuration package is the one contract between the
// operator and the server. These tests build the pods the operator would run
// for every combination of backends, auth and ingress, resolve each
// container's environment as the kubelet does, and hand it to the server's
// own parser.

// examplePEM stands for a CA certificate: the server reads the file when it
// connects, not when it parses its configuration.
const examplePEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

// backendVariant is one way of running a backend: managed (secret nil) or
// external through a Secret holding valid values.
type backendVariant struct {
	name   string
	secret map[string]string
}

func (v backendVariant) managed() bool { return v.secret == nil }

func (v backendVariant) has(key string) bool {
	_, ok := v.secret[key]
	return ok
}

var contractVariants = map[string][]backendVariant{
	"redis": {
		{name: "managed"},
		{name: "external", secret: map[string]string{"url": "redis://redis.example:6379", "password": "redis-secret"}},
		{name: "external-ca", secret: map[string]string{"url": "rediss://redis.example:6380", "ca.crt": examplePEM}},
	},
	"mongodb": {
		{name: "managed"},
		{name: "external", secret: map[string]string{"uri": "mongodb://chat:secret@mongo.example:27017/chat"}},
		{name: "external-ca", secret: map[string]string{"uri": "mongodb+srv://chat:secret@mongo.example/chat?tls=true", "ca.crt": examplePEM}},
	},
	"kafka": {
		{name: "managed"},
		{name: "external", secret: map[string]string{"brokers": "kafka-0.example:9092,kafka-1.example:9092"}},
		{name: "external-tls", secret: map[string]string{
			"brokers": "kafka.example:9093", "username": "chat", "password": "secret", "mechanism": "SCRAM-SHA-512", "tls": "true",
		}},
		{name: "external-ca", secret: map[string]string{"brokers": "kafka.example:9093", "ca.crt": examplePEM}},
	},
	"elasticsearch": {
		{name: "managed"},
		{name: "external", secret: map[string]string{"url": "http://es.example:9200", "username": "chat", "password": "secret"}},
		{name: "external-ca", secret: map[string]string{"url": "https://es.example:9200", "apiKey": "a2V5", "ca.crt": examplePEM}},
	},
}

// caFileOf reads the CA file a parsed configuration trusts for a backend.
var caFileOf = map[string]func(*config.Config) string{
	"redis":         func(c *config.Config) string { return c.RedisCAFile },
	"mongodb":       func(c *config.Config) string { return c.MongoDBCAFile },
	"kafka":         func(c *config.Config) string { return c.KafkaCAFile },
	"elasticsearch": func(c *config.Config) string { return c.ElasticCAFile },
}

var contractAuth = map[string]chatv1.AuthSpec{
	"password": {Mode: chatv1.AuthModePassword, ProxyHeader: "X-Forwarded-User", Admins: []string{"alice", "bob"}},
	"proxy": {
		Mode: chatv1.AuthModeProxy, ProxyHeader: "X-Auth-Request-User", Admins: []string{"alice"},
		TrustedProxies: []string{"10.0.0.0/8", "192.168.1.10"}, AuthURL: "https://auth.example/verify",
	},
}

// combination is one ChatCluster of the matrix and the Secrets around it.
type combination struct {
	name     string
	variants map[string]backendVariant // by backend
	cc       *chatv1.ChatCluster
	secrets  []*corev1.Secret // the external backends'
}

func contractCombinations() []combination {
	var out []combination
	var walk func(i int, chosen map[string]backendVariant)
	walk = func(i int, chosen map[string]backendVariant) {
		if i < len(backends) {
			for _, v := range contractVariants[backends[i].name] {
				next := map[string]backendVariant{backends[i].name: v}
				for k, c := range chosen {
					next[k] = c
				}
				walk(i+1, next)
			}
			return
		}
		for _, authName := range []string{"password", "proxy"} {
			auth := contractAuth[authName]
			for _, ingress := range []bool{true, false} {
				c := combination{variants: chosen}
				var parts []string
				c.cc = newChatCluster(func(cc *chatv1.ChatCluster) {
					cc.Spec.Auth = *auth.DeepCopy()
					cc.Spec.Ingress.Enabled = ptr.To(ingress)
				})
				for _, b := range backends {
					v := chosen[b.name]
					parts = append(parts, b.name+"="+v.name)
					if v.managed() {
						continue
					}
					name := "ext-" + b.name
					setExternal(c.cc, b.name, name)
					c.secrets = append(c.secrets, secret(name, v.secret))
				}
				c.name = fmt.Sprintf("%s/auth=%s/ingress=%t", strings.Join(parts, ","), authName, ingress)
				out = append(out, c)
			}
		}
	}
	walk(0, nil)
	return out
}

func setExternal(cc *chatv1.ChatCluster, backend, secretName string) {
	ext := chatv1.BackendSpec{External: &chatv1.ExternalBackend{SecretName: secretName}}
	switch backend {
	case "redis":
		cc.Spec.Redis = ext
	case "mongodb":
		cc.Spec.MongoDB = ext
	case "kafka":
		cc.Spec.Kafka.BackendSpec = ext
	case "elasticsearch":
		cc.Spec.Elasticsearch.BackendSpec = ext
	}
}

// apiObjects are the ConfigMaps and Secrets a pod's references resolve to.
type apiObjects struct {
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
}

func newAPIObjects(cms []*corev1.ConfigMap, secrets []*corev1.Secret) apiObjects {
	o := apiObjects{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for _, cm := range cms {
		o.configMaps[cm.Name] = cm
	}
	for _, s := range secrets {
		o.secrets[s.Name] = s
	}
	return o
}

// data is the content of a ConfigMap or Secret, and whether it exists.
func (o apiObjects) data(configMap bool, name string) (map[string]string, bool) {
	if configMap {
		cm, ok := o.configMaps[name]
		if !ok {
			return nil, false
		}
		return cm.Data, true
	}
	s, ok := o.secrets[name]
	if !ok {
		return nil, false
	}
	out := make(map[string]string, len(s.Data))
	for k, v := range s.Data {
		out[k] = string(v)
	}
	return out, true
}

// environment resolves a container's environment as the kubelet does:
// envFrom in order, then env in order, each overriding what came before;
// $(VAR) in a value expands to a variable defined earlier. A reference the
// kubelet could not resolve is an error (the container would not start).
func (o apiObjects) environment(c *corev1.Container) (map[string]string, error) {
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		var name string
		var optional *bool
		if from.ConfigMapRef != nil {
			name, optional = from.ConfigMapRef.Name, from.ConfigMapRef.Optional
		} else {
			name, optional = from.SecretRef.Name, from.SecretRef.Optional
		}
		data, ok := o.data(from.ConfigMapRef != nil, name)
		if !ok && !ptr.Deref(optional, false) {
			return nil, fmt.Errorf("envFrom: no ConfigMap or Secret %q", name)
		}
		for k, v := range data {
			env[from.Prefix+k] = v
		}
	}
	for _, e := range c.Env {
		ref := e.ValueFrom
		var name, key string
		var optional *bool
		switch {
		case ref == nil:
			env[e.Name] = expand(e.Value, env)
			continue
		case ref.FieldRef != nil:
			v, ok := map[string]string{
				"metadata.name": "demo-pod-0", "metadata.namespace": "chat", "status.podIP": "10.1.2.3", "spec.nodeName": "node-1",
			}[ref.FieldRef.FieldPath]
			if !ok {
				return nil, fmt.Errorf("env %s: field %s is not resolved by this test", e.Name, ref.FieldRef.FieldPath)
			}
			env[e.Name] = v
			continue
		case ref.SecretKeyRef != nil:
			name, key, optional = ref.SecretKeyRef.Name, ref.SecretKeyRef.Key, ref.SecretKeyRef.Optional
		case ref.ConfigMapKeyRef != nil:
			name, key, optional = ref.ConfigMapKeyRef.Name, ref.ConfigMapKeyRef.Key, ref.ConfigMapKeyRef.Optional
		default:
			return nil, fmt.Errorf("env %s: a source this test does not resolve", e.Name)
		}
		data, _ := o.data(ref.ConfigMapKeyRef != nil, name)
		v, ok := data[key]
		if !ok {
			if ptr.Deref(optional, false) {
				continue
			}
			return nil, fmt.Errorf("env %s: no key %q in %q", e.Name, key, name)
		}
		env[e.Name] = v
	}
	return env, nil
}

// expand replaces $(NAME) by NAME's value when it is defined, and $$ by $,
// as the kubelet does; anything else stays as written.
func expand(s string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i:], ')')
			if end < 0 {
				b.WriteByte(s[i])
				continue
			}
			name := s[i+2 : i+end]
			if v, ok := env[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+end+1])
			}
			i += end
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// fromSecret checks that a volume mount of a Secret that has the key
// provides the file at name in the container.
func (o apiObjects) fromSecret(pod *corev1.PodSpec, c *corev1.Container, name string) error {
	var best *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		p := path.Join(m.MountPath)
		if name == p || strings.HasPrefix(name, p+"/") {
			if best == nil || len(p) > len(path.Join(best.MountPath)) {
				best = &c.VolumeMounts[i]
			}
		}
	}
	if best == nil {
		return fmt.Errorf("no volume is mounted at %s", name)
	}
	var vol *corev1.Volume
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == best.Name {
			vol = &pod.Volumes[i]
		}
	}
	if vol == nil || vol.Secret == nil {
		return fmt.Errorf("%s is on volume %q, which is not a Secret", name, best.Name)
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(name, path.Join(best.MountPath)), "/")
	if best.SubPath != "" {
		rel = path.Join(best.SubPath, rel)
	}
	key := rel
	if len(vol.Secret.Items) > 0 {
		key = ""
		for _, item := range vol.Secret.Items {
			if item.Path == rel {
				key = item.Key
			}
		}
		if key == "" {
			return fmt.Errorf("%s: Secret volume %q projects no item at %s", name, best.Name, rel)
		}
	}
	data, ok := o.data(false, vol.Secret.SecretName)
	if !ok {
		return fmt.Errorf("%s: no Secret %q", name, vol.Secret.SecretName)
	}
	if _, ok := data[key]; !ok {
		return fmt.Errorf("%s: Secret %q has no key %q", name, vol.Secret.SecretName, key)
	}
	return nil
}

// runServer parses the configuration the way cmd/chatserver does with the
// container's arguments: `index` selects the indexer, which needs Kafka and
// Elasticsearch.
func runServer(c *corev1.Container, env map[string]string) (*config.Config, error) {
	args := append(slices.Clone(c.Command), c.Args...)
	getenv := func(k string) string { return env[k] }
	if len(args) > 0 && args[0] == "index" {
		cfg, err := config.Parse("chatserver index", args[1:], getenv, io.Discard)
		if err == nil && (len(cfg.KafkaBrokers) == 0 || cfg.ElasticURL == "") {
			err = fmt.Errorf("the indexer needs %s and %s", config.EnvKafkaBrokers, config.EnvElasticsearchURL)
		}
		return cfg, err
	}
	return config.Parse("chatserver", args, getenv, io.Discard)
}

func TestPodsMeetTheServersContract(t *testing.T) {
	known := map[string]bool{}
	for _, v := range config.Variables() {
		known[v] = true
	}
	combinations := contractCombinations()
	if len(combinations) != 3*3*4*3*2*2 {
		t.Fatalf("%d combinations", len(combinations))
	}
	for _, c := range combinations {
		t.Run(c.name, func(t *testing.T) {
			observed := make([]backendState, 0, len(backends))
			for i, b := range backends {
				if c.variants[b.name].managed() {
					observed = append(observed, backendState{backend: b, managed: true})
				} else {
					s := c.secrets[slices.IndexFunc(c.secrets, func(s *corev1.Secret) bool { return s.Name == "ext-"+b.name })]
					observed = append(observed, observeSecret(b, s.Name, s))
					if !observed[i].ready {
						t.Fatalf("sample Secret of %s refused: %s", b.name, observed[i].message)
					}
				}
			}
			cm := configMap(c.cc, observed)
			generated := generatedSecret(c.cc, &corev1.Secret{}, randomString)
			hash := configHash(cm, generated, observed)
			objs := newAPIObjects([]*corev1.ConfigMap{cm}, append([]*corev1.Secret{generated}, c.secrets...))

			for k := range cm.Data {
				if strings.HasPrefix(k, "CHAT_") && !known[k] {
					t.Errorf("ConfigMap key %s is not a variable the server reads", k)
				}
			}
			for _, w := range []struct {
				component string
				pod       *corev1.PodSpec
			}{
				{componentChatServer, &chatServerDeployment(c.cc, DefaultImages, observed, hash).Spec.Template.Spec},
				{componentIndexer, &indexerDeployment(c.cc, DefaultImages, observed, hash).Spec.Template.Spec},
			} {
				ctr := &w.pod.Containers[0]
				env, err := objs.environment(ctr)
				if err != nil {
					t.Errorf("%s: the container would not start: %v", w.component, err)
					continue
				}
				for k := range env {
					if strings.HasPrefix(k, "CHAT_") && !known[k] {
						t.Errorf("%s: %s is not a variable the server reads", w.component, k)
					}
				}
				cfg, err := runServer(ctr, env)
				if err != nil {
					t.Errorf("%s: the server refuses its configuration: %v", w.component, err)
					continue
				}
				for k, v := range env {
					if !strings.HasPrefix(k, "CHAT_") || !strings.HasSuffix(k, "_CA_FILE") || v == "" {
						continue
					}
					if err := objs.fromSecret(w.pod, ctr, v); err != nil {
						t.Errorf("%s: %s: %v", w.component, k, err)
					}
				}
				checkBackendsAsChosen(t, w.component, c, cfg)
			}
		})
	}
}

// checkBackendsAsChosen: each backend is reached where the combination
// says, and trusts its own CA only.
func checkBackendsAsChosen(t *testing.T, component string, c combination, cfg *config.Config) {
	t.Helper()
	for _, b := range backends {
		v := c.variants[b.name]
		uses := component == componentChatServer || b.indexer
		wantCA := ""
		if uses && v.has(caKey) {
			wantCA = caDir + "/" + b.name + "/" + caKey
		}
		if got := caFileOf[b.name](cfg); got != wantCA {
			t.Errorf("%s: CA file of %s = %q, want %q", component, b.name, got, wantCA)
		}
		if !uses {
			continue
		}
		var target string
		switch b.name {
		case "redis":
			target = cfg.RedisURL
		case "mongodb":
			target = cfg.MongoURI
		case "kafka":
			target = strings.Join(cfg.KafkaBrokers, ",")
		case "elasticsearch":
			target = cfg.ElasticURL
		}
		want := b.url(b.host(c.cc), b.port)
		if !v.managed() {
			want = v.secret[b.keys[0].key]
		}
		if target != want {
			t.Errorf("%s: %s at %q, want %q", component, b.name, target, want)
		}
	}
	kafka := c.variants["kafka"]
	if tls := cfg.KafkaTLS || cfg.KafkaCAFile != ""; tls != (kafka.has(caKey) || kafka.secret["tls"] == "true") {
		t.Errorf("%s: TLS to Kafka is %t with Secret %v", component, tls, kafka.secret)
	}
	if c.cc.Spec.Auth.Mode == chatv1.AuthModeProxy && len(cfg.TrustedProxies) != len(c.cc.Spec.Auth.TrustedProxies) {
		t.Errorf("%s: trusted proxies %v, want %v", component, cfg.TrustedProxies, c.cc.Spec.Auth.TrustedProxies)
	}
}

// TestContractEnvironmentIsResolvedAsTheKubeletDoes keeps the resolver
// honest: later sources win, optional references may be missing, required
// ones may not.
func TestContractEnvironmentIsResolvedAsTheKubeletDoes(t *testing.T) {
	objs := newAPIObjects(
		[]*corev1.ConfigMap{{ObjectMeta: objectMeta(newChatCluster(), "x"), Data: map[string]string{"A": "from-cm", "B": "b"}}},
		[]*corev1.Secret{secret("s", map[string]string{"k": "from-secret"})},
	)
	c := &corev1.Container{
		EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "demo-x"}}}},
		Env: []corev1.EnvVar{
			secretEnv("A", "s", "k", false),
			secretEnv("C", "s", "missing", true),
			{Name: "D", Value: "$(B)-$$(B)-$(UNDEFINED)"},
		},
	}
	env, err := objs.environment(c)
	if err != nil {
		t.Fatal(err)
	}
	if env["A"] != "from-secret" || env["D"] != "b-$(B)-$(UNDEFINED)" {
		t.Errorf("env %v", env)
	}
	if _, ok := env["C"]; ok {
		t.Error("a missing optional key defined its variable")
	}
	c.Env = append(c.Env, secretEnv("E", "s", "missing", false))
	if _, err := objs.environment(c); err == nil {
		t.Error("a missing required key was accepted")
	}
}
