// Command manager runs the ChatCluster operator.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
	"github.com/chatcluster/chatcluster/controllers"
)

func main() {
	if err := run(ctrl.SetupSignalHandler(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
}

// run parses the flags and runs the manager until ctx is done.
func run(ctx context.Context, args []string) error {
	// flag.CommandLine also carries controller-runtime's --kubeconfig.
	fs := flag.CommandLine
	var (
		metricsAddr    = fs.String("metrics-bind-address", ":8080", "address the metrics endpoint binds to; 0 disables it")
		probeAddr      = fs.String("health-probe-bind-address", ":8081", "address the /healthz and /readyz probes bind to")
		leaderElect    = fs.Bool("leader-elect", false, "elect a leader, so that only one replica reconciles at a time")
		leaderID       = fs.String("leader-election-id", "chatcluster-operator.chat.chatcluster.io", "name of the leader-election Lease")
		leaderNS       = fs.String("leader-election-namespace", "", "namespace of the leader-election Lease; empty means the manager's own")
		watchNamespace = fs.String("watch-namespace", "", "reconcile ChatClusters of this namespace only; empty means every namespace")
		images         = controllers.DefaultImages
	)
	fs.StringVar(&images.ChatServer, "chat-server-image", images.ChatServer, "chat-server image repository; the tag is spec.version")
	fs.StringVar(&images.Redis, "redis-image", images.Redis, "image of managed Redis")
	fs.StringVar(&images.MongoDB, "mongodb-image", images.MongoDB, "image of managed MongoDB")
	fs.StringVar(&images.Kafka, "kafka-image", images.Kafka, "image of managed Kafka")
	fs.StringVar(&images.Elasticsearch, "elasticsearch-image", images.Elasticsearch, "image of managed Elasticsearch")
	zapOpts := zap.Options{Development: false}
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(chatv1.AddToScheme(scheme))

	opts := ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: *metricsAddr},
		HealthProbeBindAddress:  *probeAddr,
		LeaderElection:          *leaderElect,
		LeaderElectionID:        *leaderID,
		LeaderElectionNamespace: *leaderNS,
		// Nothing to clean up before another replica takes over.
		LeaderElectionReleaseOnCancel: true,
		// Only what the operator owns, and ChatClusters.
		Cache: controllers.CacheOptions(*watchNamespace),
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), opts)
	if err != nil {
		return fmt.Errorf("new manager: %w", err)
	}
	r := &controllers.ChatClusterReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Scheme:    mgr.GetScheme(),
		Recorder:  mgr.GetEventRecorder("chatcluster-operator"),
		Images:    images,
		Namespace: *watchNamespace,
	}
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("set up controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	log.Info("starting manager", "watchNamespace", *watchNamespace, "leaderElection", *leaderElect)
	return mgr.Start(ctx)
}
