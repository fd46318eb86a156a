package kubelet

import (
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestHostsFile(t *testing.T) {
	svc := func(ns, name string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	}
	sb := &sandbox{namespace: "chat", name: "demo-kafka-0", hostname: "demo-kafka-0", subdomain: "demo-kafka", ip: netip.MustParseAddr("10.244.0.3")}
	got := string(hostsFile(sb, []hostEntry{
		{addr: netip.MustParseAddr("127.1.0.1"), service: svc("chat", "demo-redis")},
		{addr: netip.MustParseAddr("127.1.0.2"), service: svc("default", "kubernetes")},
		{addr: netip.MustParseAddr("127.2.0.1"), external: "redis.external.test"},
	}))
	for _, line := range []string{
		"127.0.0.1\tlocalhost",
		"10.244.0.3\tdemo-kafka-0.demo-kafka.chat.svc.cluster.local\tdemo-kafka-0",
		"127.1.0.1\tdemo-redis.chat.svc.cluster.local demo-redis.chat.svc demo-redis.chat demo-redis",
		// The short name resolves only in the Service's own namespace.
		"127.1.0.2\tkubernetes.default.svc.cluster.local kubernetes.default.svc kubernetes.default",
		"127.2.0.1\tredis.external.test",
	} {
		if !strings.Contains(got, line+"\n") {
			t.Errorf("hosts file lacks %q:\n%s", line, got)
		}
	}
}
