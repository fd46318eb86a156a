// Command kubelet runs the pods a simulated cluster binds to one node as
// real processes on this machine: the platform test's kubelet (package
// test/platform/kubelet). It must run as root.
//
//	kubelet --kubeconfig bin/sim/kubeconfig --state-dir /tmp/kubelet \
//	  --external redis.external.test=127.0.0.1:6399
//
// GET /pods on --http lists the running pods with their forwarded ports
// and log files.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/chatcluster/chatcluster/test/platform/kubelet"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "kubelet:", err)
		os.Exit(1)
	}
}

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func run(ctx context.Context, args []string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("kubelet", flag.ContinueOnError)
	var (
		kubeconfig  = fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
		node        = fs.String("node", "sim-node-0", "the node whose pods to run")
		stateDir    = fs.String("state-dir", "", "directory for pods, claims and logs (required)")
		httpAddr    = fs.String("http", "127.0.0.1:0", "address of the /pods and /healthz endpoint")
		addrFile    = fs.String("http-address-file", "", "write the endpoint's address to this file once it listens")
		programsDir = fs.String("programs-dir", filepath.Dir(self), "directory of the programs that stand in for images")
		prefix      = fs.String("netns-prefix", "cck-", "prefix of the pods' network namespace names")
		backoffInit = fs.Duration("backoff-initial", 10*time.Second, "first restart back-off delay")
		backoffMax  = fs.Duration("backoff-max", 5*time.Minute, "longest restart back-off delay")
		logLevel    = fs.String("log-level", "info", "debug, info, warn or error")
		programs    listFlag
		externals   listFlag
	)
	fs.Var(&programs, "program", "family=path: the program run for an image family (chatserver, redis, mongodb, kafka, elasticsearch); empty path: none (repeatable)")
	fs.Var(&externals, "external", "name=host:port: a name pods reach at that port, relayed to host:port on this machine (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *stateDir == "" {
		return errors.New("--state-dir is required")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	progs := map[string]string{}
	for _, p := range programs {
		name, path, ok := strings.Cut(p, "=")
		if !ok {
			return fmt.Errorf("--program %q: want family=path", p)
		}
		progs[name] = path
	}
	images, err := imageTable(*programsDir, progs)
	if err != nil {
		return err
	}
	var hosts []kubelet.ExternalHost
	for _, e := range externals {
		h, err := kubelet.ParseExternalHost(e)
		if err != nil {
			return fmt.Errorf("--external: %w", err)
		}
		hosts = append(hosts, h)
	}

	rc, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	rc.QPS, rc.Burst, rc.UserAgent = 50, 100, "platform-kubelet"
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	k, err := kubelet.New(kubelet.Config{
		Client: client, NodeName: *node, StateDir: *stateDir, Images: images, ExternalHosts: hosts,
		NetNSPrefix: *prefix, BackoffInitial: *backoffInit, BackoffMax: *backoffMax, Logger: log,
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: k.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if *addrFile != "" {
		if err := writeFileAtomic(*addrFile, ln.Addr().String()+"\n"); err != nil {
			srv.Close()
			return err
		}
	}
	log.Info("serving /pods", "address", ln.Addr().String())

	runErr := k.Run(ctx)
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdown)
	if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return errors.Join(runErr, err)
}

// writeFileAtomic writes a file that readers see whole or not at all.
func writeFileAtomic(path, content string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
