package kubelet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
)

// Config configures a Kubelet. Zero values take the defaults named.
type Config struct {
	Client   kubernetes.Interface
	NodeName string // required
	// StateDir holds the pods' directories, claims without a hostPath
	// volume, and the containers' logs; required.
	StateDir string
	Images   Images
	// ExternalHosts are names every pod reaches on the host.
	ExternalHosts []ExternalHost
	// NetNSPrefix starts the names of the pods' network namespaces; the
	// rest is the pod's UID. Default "cck-".
	NetNSPrefix string
	// BackoffInitial and BackoffMax bound the restart back-off: 10s and 5m.
	BackoffInitial, BackoffMax time.Duration
	// ShutdownGrace caps the pods' grace periods when the kubelet stops: 30s.
	ShutdownGrace time.Duration
	Logger        *slog.Logger // default: slog.Default()
}

// Kubelet runs the pods bound to one node. See the package documentation.
type Kubelet struct {
	client         kubernetes.Interface
	nodeName       string
	stateDir       string
	images         Images
	externals      []ExternalHost
	netnsPrefix    string
	backoffInitial time.Duration
	backoffMax     time.Duration
	shutdownGrace  time.Duration
	log            *slog.Logger
	tools          tools
	podIPs         *addressBook

	// Set by Run before any pod worker starts.
	hostIP   string
	recorder record.EventRecorder
	nw       *network

	mu       sync.Mutex
	workers  map[types.UID]*podWorker
	finished map[types.UID]bool // workers that ended while their pod is still listed
	wg       sync.WaitGroup
}

// New checks the configuration and the host programs the kubelet needs.
func New(cfg Config) (*Kubelet, error) {
	if cfg.Client == nil || cfg.NodeName == "" || cfg.StateDir == "" {
		return nil, errors.New("kubelet: Client, NodeName and StateDir are required")
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("kubelet: must run as root (network namespaces, mounts, switching users)")
	}
	t, err := findTools()
	if err != nil {
		return nil, fmt.Errorf("kubelet: %w", err)
	}
	dir, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	k := &Kubelet{
		client: cfg.Client, nodeName: cfg.NodeName, stateDir: dir, images: cfg.Images,
		externals: cfg.ExternalHosts, netnsPrefix: cfg.NetNSPrefix,
		backoffInitial: cfg.BackoffInitial, backoffMax: cfg.BackoffMax, shutdownGrace: cfg.ShutdownGrace,
		log: cfg.Logger, tools: t, podIPs: newAddressBook(netip.MustParsePrefix("10.244.0.0/16")),
		workers: map[types.UID]*podWorker{}, finished: map[types.UID]bool{},
	}
	if k.netnsPrefix == "" {
		k.netnsPrefix = "cck-"
	}
	if k.backoffInitial <= 0 {
		k.backoffInitial = 10 * time.Second
	}
	if k.backoffMax <= 0 {
		k.backoffMax = 5 * time.Minute
	}
	if k.shutdownGrace <= 0 {
		k.shutdownGrace = 30 * time.Second
	}
	if k.log == nil {
		k.log = slog.Default()
	}
	return k, nil
}

// LogPath is the file a container's output goes to, across its restarts.
func (k *Kubelet) LogPath(namespace, pod string, uid types.UID, container string) string {
	return filepath.Join(k.stateDir, "logs", fmt.Sprintf("%s_%s_%.8s_%s.log", namespace, pod, uid, container))
}

// makeStateDirs makes the state directory's layout: pods/<uid> (a pod's
// own volumes), claims/<uid> (claims without a hostPath volume) and logs.
func makeStateDirs(dir string) error {
	for _, d := range []string{"pods", "logs", "claims"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// Run runs the node's pods until ctx ends, then stops them all and returns
// once every process and goroutine it started is gone.
func (k *Kubelet) Run(ctx context.Context) error {
	if err := makeStateDirs(k.stateDir); err != nil {
		return err
	}
	if err := removeLeftovers(k.stateDir); err != nil {
		return err
	}
	k.hostIP = "127.0.0.1"
	if node, err := k.client.CoreV1().Nodes().Get(ctx, k.nodeName, metav1.GetOptions{}); err != nil {
		return fmt.Errorf("kubelet: node %s: %w", k.nodeName, err)
	} else {
		for _, a := range node.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				k.hostIP = a.Address
			}
		}
	}

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: k.client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	k.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: k.nodeName})

	cluster := informers.NewSharedInformerFactory(k.client, 0)
	services, slices := cluster.Core().V1().Services(), cluster.Discovery().V1().EndpointSlices()
	netCtx, stopNetwork := context.WithCancel(context.Background())
	defer stopNetwork()
	nw, err := newNetwork(netCtx, k.log, services.Lister(), slices.Lister(), k.externals)
	if err != nil {
		return err
	}
	k.nw = nw
	changed := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { nw.changed() },
		UpdateFunc: func(any, any) { nw.changed() },
		DeleteFunc: func(any) { nw.changed() },
	}
	for _, inf := range []cache.SharedIndexInformer{services.Informer(), slices.Informer()} {
		if _, err := inf.AddEventHandler(changed); err != nil {
			return err
		}
	}
	onNode := informers.NewSharedInformerFactoryWithOptions(k.client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", k.nodeName).String()
	}))
	if _, err := onNode.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.podSeen(ctx, obj) },
		UpdateFunc: func(_, obj any) { k.podSeen(ctx, obj) },
		DeleteFunc: k.podGone,
	}); err != nil {
		return err
	}

	netDone := make(chan struct{})
	go func() {
		defer close(netDone)
		nw.run(netCtx)
	}()
	cluster.Start(ctx.Done())
	cluster.WaitForCacheSync(ctx.Done())
	onNode.Start(ctx.Done())
	k.log.Info("kubelet running", "node", k.nodeName, "stateDir", k.stateDir)

	<-ctx.Done()
	k.log.Info("kubelet stopping: stopping every pod")
	onNode.Shutdown()
	k.wg.Wait()
	stopNetwork()
	<-netDone
	cluster.Shutdown()
	k.log.Info("kubelet stopped")
	return nil
}

// podSeen starts a worker for a new pod and hands an update to a known one.
func (k *Kubelet) podSeen(ctx context.Context, obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || ctx.Err() != nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if w, ok := k.workers[pod.UID]; ok {
		w.update(pod)
		return
	}
	if k.finished[pod.UID] || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return
	}
	w := newPodWorker(k, pod)
	k.workers[pod.UID] = w
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		w.run(ctx)
		k.mu.Lock()
		delete(k.workers, pod.UID)
		k.finished[pod.UID] = true
		k.mu.Unlock()
	}()
}

// podGone tells a pod's worker that the pod left the API (or the node).
func (k *Kubelet) podGone(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.finished, pod.UID)
	if w, ok := k.workers[pod.UID]; ok {
		w.removed()
	}
}

// Pods describes the running pods: their addresses, forwarded ports and
// log files.
func (k *Kubelet) Pods() []PodInfo {
	k.mu.Lock()
	workers := make([]*podWorker, 0, len(k.workers))
	for _, w := range k.workers {
		workers = append(workers, w)
	}
	k.mu.Unlock()
	var out []PodInfo
	for _, w := range workers {
		if pi, ok := w.info(); ok {
			out = append(out, pi)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name
	})
	return out
}

// Handler serves GET /pods (Pods as JSON) and GET /healthz.
func (k *Kubelet) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /pods", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(k.Pods())
	})
	return mux
}
