package kubelet

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
)

// ExternalHost is a name that pods reach as if it were in the cluster: the
// name resolves to a loopback address in every pod, where the kubelet
// listens on Port and relays to Target on the host. It stands for a backend
// outside the cluster, reached through a Secret's URL.
type ExternalHost struct {
	Name   string
	Port   int
	Target string // host:port, dialled from the host
}

// ParseExternalHost parses name=host:port; the pods reach name:port.
func ParseExternalHost(s string) (ExternalHost, error) {
	name, target, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return ExternalHost{}, fmt.Errorf("external host %q: want name=host:port", s)
	}
	_, p, err := net.SplitHostPort(target)
	if err != nil {
		return ExternalHost{}, fmt.Errorf("external host %q: %w", s, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return ExternalHost{}, fmt.Errorf("external host %q: bad port %q", s, p)
	}
	return ExternalHost{Name: name, Port: port, Target: target}, nil
}

// Forward is a pod's container port reachable on the host's loopback.
type Forward struct {
	Container string `json:"container"`
	Name      string `json:"name,omitempty"`
	Port      int32  `json:"port"`
	Address   string `json:"address"` // host:port on 127.0.0.1
}

// Address ranges inside the pods' namespaces.
var (
	serviceRange  = netip.MustParsePrefix("127.1.0.0/16")
	externalRange = netip.MustParsePrefix("127.2.0.0/16")
)

type proxyKey struct {
	sandbox types.UID
	target  string // "svc/<namespace>/<name>" or "ext/<name>"
	port    int32
}

type forwardKey struct {
	sandbox   types.UID
	container string
	port      int32
}

type forwardRelay struct {
	*relay
	info Forward
}

// network joins the pods: it keeps every sandbox's /etc/hosts in step with
// the Services, listens for each Service port inside each sandbox and
// relays to an endpoint, and forwards each sandbox's container ports to the
// host. One mutex guards the sandboxes and listeners; sync recomputes what
// should listen and opens and closes the difference.
type network struct {
	log       *slog.Logger
	services  corelisters.ServiceLister
	slices    discoverylisters.EndpointSliceLister
	externals []ExternalHost
	addrs     *addressBook // Services
	extAddrs  map[string]netip.Addr
	relays    *relays
	next      atomic.Uint64 // round robin over endpoints

	kick chan struct{}

	mu        sync.Mutex
	sandboxes map[types.UID]*sandbox
	proxies   map[proxyKey]*relay
	forwards  map[forwardKey]*forwardRelay
	failed    map[proxyKey]string // listen errors already logged
}

func newNetwork(ctx context.Context, log *slog.Logger, services corelisters.ServiceLister, slices discoverylisters.EndpointSliceLister, externals []ExternalHost) (*network, error) {
	nw := &network{
		log: log, services: services, slices: slices, externals: externals,
		addrs: newAddressBook(serviceRange), extAddrs: map[string]netip.Addr{},
		relays: newRelays(ctx, log), kick: make(chan struct{}, 1),
		sandboxes: map[types.UID]*sandbox{}, proxies: map[proxyKey]*relay{},
		forwards: map[forwardKey]*forwardRelay{}, failed: map[proxyKey]string{},
	}
	ext := newAddressBook(externalRange)
	for _, e := range externals {
		a, err := ext.get(e.Name)
		if err != nil {
			return nil, err
		}
		nw.extAddrs[e.Name] = a
	}
	return nw, nil
}

// changed asks run to sync soon: Services or EndpointSlices changed.
func (nw *network) changed() {
	select {
	case nw.kick <- struct{}{}:
	default:
	}
}

// run syncs on every change, and every resync to retry what failed, until
// ctx ends; then it closes every listener and connection and waits for
// their goroutines.
func (nw *network) run(ctx context.Context) {
	t := time.NewTicker(resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			nw.shutdown()
			return
		case <-nw.kick:
		case <-t.C:
		}
		nw.mu.Lock()
		nw.syncLocked(ctx)
		nw.mu.Unlock()
	}
}

func (nw *network) shutdown() {
	nw.mu.Lock()
	for k, r := range nw.proxies {
		r.ln.Close()
		delete(nw.proxies, k)
	}
	for k, f := range nw.forwards {
		f.ln.Close()
		delete(nw.forwards, k)
	}
	nw.mu.Unlock()
	nw.relays.shutdown()
}

// add makes a sandbox's network: its hosts file, its Service listeners and
// its forwards, before its containers start.
func (nw *network) add(ctx context.Context, sb *sandbox) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.sandboxes[sb.uid] = sb
	nw.syncLocked(ctx)
}

// remove closes a sandbox's listeners, forwards and connections.
func (nw *network) remove(ctx context.Context, uid types.UID) {
	nw.mu.Lock()
	delete(nw.sandboxes, uid)
	nw.syncLocked(ctx)
	nw.mu.Unlock()
	nw.relays.closeSandbox(uid)
}

// forwardsOf lists a sandbox's forwarded ports.
func (nw *network) forwardsOf(uid types.UID) []Forward {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	var out []Forward
	for k, f := range nw.forwards {
		if k.sandbox == uid {
			out = append(out, f.info)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Container != out[j].Container {
			return out[i].Container < out[j].Container
		}
		return out[i].Port < out[j].Port
	})
	return out
}

func (nw *network) sandbox(uid types.UID) *sandbox {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.sandboxes[uid]
}

// syncLocked writes the hosts files and opens and closes listeners so that
// they match the Services and sandboxes.
func (nw *network) syncLocked(ctx context.Context) {
	svcs, err := nw.services.List(labels.Everything())
	if err != nil {
		nw.log.Error("network: list services", "err", err)
		return
	}
	sort.Slice(svcs, func(i, j int) bool {
		return svcs[i].Namespace+"/"+svcs[i].Name < svcs[j].Namespace+"/"+svcs[j].Name
	})
	entries := make([]hostEntry, 0, len(svcs)+len(nw.externals))
	wantProxies := map[proxyKey]func() *relay{}
	wantForwards := map[forwardKey]Forward{}

	for _, svc := range svcs {
		if svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		addr, err := nw.addrs.get(svc.Namespace + "/" + svc.Name)
		if err != nil {
			nw.log.Error("network: service address", "service", svc.Namespace+"/"+svc.Name, "err", err)
			continue
		}
		entries = append(entries, hostEntry{addr: addr, service: svc})
		for _, sb := range nw.sandboxes {
			for _, p := range svc.Spec.Ports {
				if p.Protocol != corev1.ProtocolTCP && p.Protocol != "" {
					continue
				}
				if sb.declaresPort(p.Port) {
					// The pod's own process listens on every address of
					// its loopback at this port: it answers there itself.
					continue
				}
				key := proxyKey{sb.uid, "svc/" + svc.Namespace + "/" + svc.Name, p.Port}
				svcKey := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
				portName, listen := p.Name, netip.AddrPortFrom(addr, uint16(p.Port)).String()
				wantProxies[key] = func() *relay {
					return nw.listen(ctx, sb, listen, key, nw.serviceDialer(svcKey, portName))
				}
			}
		}
	}
	for _, e := range nw.externals {
		addr := nw.extAddrs[e.Name]
		entries = append(entries, hostEntry{addr: addr, external: e.Name})
		for _, sb := range nw.sandboxes {
			key := proxyKey{sb.uid, "ext/" + e.Name, int32(e.Port)}
			target, listen := e.Target, netip.AddrPortFrom(addr, uint16(e.Port)).String()
			wantProxies[key] = func() *relay {
				return nw.listen(ctx, sb, listen, key, func(ctx context.Context) (net.Conn, types.UID, error) {
					c, err := (&net.Dialer{}).DialContext(ctx, "tcp", target)
					return c, "", err
				})
			}
		}
	}
	for _, sb := range nw.sandboxes {
		if err := sb.ns.writeEtc("hosts", hostsFile(sb, entries)); err != nil {
			nw.log.Error("network: hosts file", "pod", sb.ref(), "err", err)
		}
		for _, p := range sb.ports {
			wantForwards[forwardKey{sb.uid, p.container, p.port}] = Forward{Container: p.container, Name: p.name, Port: p.port}
		}
	}

	reconcile(nw.proxies, wantProxies, func(r *relay) { r.ln.Close() },
		func(_ proxyKey, open func() *relay) *relay { return open() })
	for k := range nw.failed {
		if _, ok := wantProxies[k]; !ok {
			delete(nw.failed, k)
		}
	}
	reconcile(nw.forwards, wantForwards, func(f *forwardRelay) { f.ln.Close() }, nw.forward)
}

// reconcile makes have's keys want's: it closes what is not wanted and
// opens what is missing (nil: failed, tried again at the next sync).
func reconcile[K comparable, V any, W any](have map[K]*V, want map[K]W, closeV func(*V), open func(K, W) *V) {
	for k, v := range have {
		if _, ok := want[k]; !ok {
			closeV(v)
			delete(have, k)
		}
	}
	for k, w := range want {
		if _, ok := have[k]; !ok {
			if v := open(k, w); v != nil {
				have[k] = v
			}
		}
	}
}

// listen opens a relay inside a sandbox; a failure is logged once and
// retried at the next sync.
func (nw *network) listen(ctx context.Context, sb *sandbox, addr string, key proxyKey, dial func(context.Context) (net.Conn, types.UID, error)) *relay {
	ln, err := sb.ns.listen(ctx, addr)
	if err != nil {
		if nw.failed[key] != err.Error() {
			nw.log.Warn("network: cannot listen in pod", "pod", sb.ref(), "address", addr, "for", key.target, "err", err)
			nw.failed[key] = err.Error()
		}
		return nil
	}
	delete(nw.failed, key)
	r := &relay{ln: ln, owner: sb.uid, what: fmt.Sprintf("%s in %s at %s", key.target, sb.ref(), addr), dial: dial}
	nw.relays.start(r)
	return r
}

// forward opens a host listener for a sandbox's container port.
func (nw *network) forward(k forwardKey, info Forward) *forwardRelay {
	sb := nw.sandboxes[k.sandbox]
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		nw.log.Error("network: forward", "pod", sb.ref(), "port", k.port, "err", err)
		return nil
	}
	info.Address = ln.Addr().String()
	target := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(k.port)).String()
	r := &relay{ln: ln, what: fmt.Sprintf("forward %s to %s:%d", info.Address, sb.ref(), k.port),
		dial: func(ctx context.Context) (net.Conn, types.UID, error) {
			c, err := sb.ns.dial(ctx, target)
			return c, sb.uid, err
		}}
	nw.relays.start(r)
	return &forwardRelay{relay: r, info: info}
}

// serviceDialer connects to one endpoint of a Service port, picked round
// robin among the ready endpoints of its EndpointSlices (for a Service that
// publishes not-ready addresses, the EndpointSlice controller marks every
// endpoint ready), at the target port the slice names.
func (nw *network) serviceDialer(svc types.NamespacedName, portName string) func(context.Context) (net.Conn, types.UID, error) {
	return func(ctx context.Context) (net.Conn, types.UID, error) {
		eps, err := nw.endpoints(svc, portName)
		if err != nil {
			return nil, "", err
		}
		if len(eps) == 0 {
			return nil, "", fmt.Errorf("service %s port %q has no ready endpoint on this node", svc, portName)
		}
		ep := eps[nw.next.Add(1)%uint64(len(eps))]
		target := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(ep.port)).String()
		c, err := ep.sb.ns.dial(ctx, target)
		return c, ep.sb.uid, err
	}
}

type endpoint struct {
	sb   *sandbox
	port int32
}

func (nw *network) endpoints(svc types.NamespacedName, portName string) ([]endpoint, error) {
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc.Name})
	slices, err := nw.slices.EndpointSlices(svc.Namespace).List(sel)
	if err != nil {
		return nil, err
	}
	sort.Slice(slices, func(i, j int) bool { return slices[i].Name < slices[j].Name })
	seen := map[types.UID]bool{}
	var eps []endpoint
	for _, s := range slices {
		port := int32(-1)
		for _, p := range s.Ports {
			if p.Port != nil && derefString(p.Name) == portName {
				port = *p.Port
			}
		}
		if port < 0 {
			continue
		}
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			if e.TargetRef == nil || e.TargetRef.Kind != "Pod" || seen[e.TargetRef.UID] {
				continue
			}
			if sb := nw.sandbox(e.TargetRef.UID); sb != nil {
				seen[sb.uid] = true
				eps = append(eps, endpoint{sb: sb, port: port})
			}
		}
	}
	return eps, nil
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
