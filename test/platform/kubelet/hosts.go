package kubelet

import (
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// clusterDomain is the DNS domain of the simulated cluster.
const clusterDomain = "cluster.local"

// hostEntry is a name the pods resolve: a Service or an external host.
type hostEntry struct {
	addr     netip.Addr
	service  *corev1.Service
	external string
}

// hostsFile is a sandbox's /etc/hosts, which stands in for cluster DNS:
// localhost, the pod's own name, every Service by each name cluster DNS
// answers for from this pod's namespace, and the external hosts.
func hostsFile(sb *sandbox, entries []hostEntry) []byte {
	var b strings.Builder
	b.WriteString("# Written by the platform test's kubelet: cluster DNS for this pod.\n")
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	if sb.subdomain != "" {
		fmt.Fprintf(&b, "%s\t%s.%s.%s.svc.%s\t%s\n", sb.ip, sb.hostname, sb.subdomain, sb.namespace, clusterDomain, sb.hostname)
	} else {
		fmt.Fprintf(&b, "%s\t%s\n", sb.ip, sb.hostname)
	}
	for _, e := range entries {
		if e.external != "" {
			fmt.Fprintf(&b, "%s\t%s\n", e.addr, e.external)
			continue
		}
		s := e.service
		fmt.Fprintf(&b, "%s\t%s.%s.svc.%s %s.%s.svc %s.%s", e.addr,
			s.Name, s.Namespace, clusterDomain, s.Name, s.Namespace, s.Name, s.Namespace)
		if s.Namespace == sb.namespace {
			fmt.Fprintf(&b, " %s", s.Name)
		}
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// resolvConf points the pod at no name server: every name it may resolve is
// in its hosts file, and nothing leaks to the host's resolver (the
// namespace has no route out anyway).
const resolvConf = "# Written by the platform test's kubelet: no DNS server; names are in /etc/hosts.\n" +
	"nameserver 127.0.0.1\noptions attempts:1 timeout:1\n"
