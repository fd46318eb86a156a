package kubelet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// sandbox is what a pod's containers share: a network namespace with the
// pod's IP on its loopback, a directory for pod-local volumes, and the
// volumes themselves.
type sandbox struct {
	uid       types.UID
	namespace string
	name      string
	hostname  string
	subdomain string
	ip        netip.Addr
	ns        *netNS
	dir       string
	ports     []containerPort
	volumes   map[string]volume
}

type containerPort struct {
	container string
	name      string
	port      int32
}

func (sb *sandbox) ref() string { return sb.namespace + "/" + sb.name }

// declaresPort reports whether a container of the pod declares the TCP port.
func (sb *sandbox) declaresPort(port int32) bool {
	for _, p := range sb.ports {
		if p.port == port {
			return true
		}
	}
	return false
}

// netnsFile, in a sandbox's directory, names its network namespace, so that
// a later run removes what a crashed one left.
const netnsFile = "netns"

// netnsName is a pod's network namespace: prefix and the pod's UID.
func netnsName(prefix string, uid types.UID) string { return prefix + string(uid) }

// podHostname is the pod's host name: spec.hostname, else its name, at
// most 63 characters.
func podHostname(pod *corev1.Pod) string {
	h := pod.Spec.Hostname
	if h == "" {
		h = pod.Name
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

// createSandbox makes a pod's network namespace and volumes. On an error
// nothing is left behind.
func (k *Kubelet) createSandbox(ctx context.Context, pod *corev1.Pod) (_ *sandbox, err error) {
	ip, err := k.podIPs.get(string(pod.UID))
	if err != nil {
		return nil, err
	}
	sb := &sandbox{
		uid: pod.UID, namespace: pod.Namespace, name: pod.Name,
		hostname: podHostname(pod), subdomain: pod.Spec.Subdomain, ip: ip,
		dir: filepath.Join(k.stateDir, "pods", string(pod.UID)),
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Protocol == corev1.ProtocolTCP || p.Protocol == "" {
				sb.ports = append(sb.ports, containerPort{container: c.Name, name: p.Name, port: p.ContainerPort})
			}
		}
	}
	if err := os.MkdirAll(sb.dir, 0o755); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, sb.destroy())
		}
	}()
	name := netnsName(k.netnsPrefix, pod.UID)
	if err := os.WriteFile(filepath.Join(sb.dir, netnsFile), []byte(name), 0o644); err != nil {
		return nil, err
	}
	if sb.ns, err = createNetNS(ctx, name, ip); err != nil {
		return nil, err
	}
	if err := sb.ns.writeEtc("resolv.conf", []byte(resolvConf)); err != nil {
		return nil, err
	}
	if sb.volumes, err = setupVolumes(ctx, k.client, k.stateDir, pod, sb.dir); err != nil {
		return nil, err
	}
	return sb, nil
}

// destroy removes the network namespace and the pod-local volumes; claims'
// directories stay.
func (sb *sandbox) destroy() error {
	var errs []error
	if sb.ns != nil {
		errs = append(errs, sb.ns.close())
	}
	return errors.Join(append(errs, os.RemoveAll(sb.dir))...)
}

// removeLeftovers removes the sandboxes an earlier run of the kubelet left
// (it crashed or was killed): their namespaces and directories.
func removeLeftovers(stateDir string) error {
	dirs, err := os.ReadDir(filepath.Join(stateDir, "pods"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range dirs {
		dir := filepath.Join(stateDir, "pods", d.Name())
		if name, err := os.ReadFile(filepath.Join(dir, netnsFile)); err == nil {
			errs = append(errs, deleteNetNS(strings.TrimSpace(string(name))))
		}
		errs = append(errs, os.RemoveAll(dir))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("removing an earlier run's pods: %w", err)
	}
	return nil
}
