package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	chatv1 "github.com/chatcluster/chatcluster/api/v1alpha1"
)

// Cluster is the API of the simulated cluster, as its admin.
type Cluster struct {
	Kubeconfig string
	kubectl    string
	Config     *rest.Config
	Core       kubernetes.Interface
	Client     client.Client // typed, with the ChatCluster API
}

// Connect makes the clients of the cluster a kubeconfig names.
func Connect(kubeconfig, kubectl string) (*Cluster, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	rc.QPS, rc.Burst = 50, 100
	core, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := chatv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(rc, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	return &Cluster{Kubeconfig: kubeconfig, kubectl: kubectl, Config: rc, Core: core, Client: c}, nil
}

// Kubectl runs kubectl against the cluster with stdin, returning its output.
func (c *Cluster) Kubectl(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.kubectl, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

// WriteTokenKubeconfig writes a kubeconfig for the same cluster that
// authenticates with a bearer token (a service account's).
func (c *Cluster) WriteTokenKubeconfig(path, user, token string) error {
	cfg, err := clientcmd.LoadFromFile(c.Kubeconfig)
	if err != nil {
		return err
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if ctx == nil {
		return fmt.Errorf("%s has no current context", c.Kubeconfig)
	}
	out := clientcmdapi.NewConfig()
	out.Clusters["sim"] = cfg.Clusters[ctx.Cluster]
	out.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	out.Contexts["sim"] = &clientcmdapi.Context{Cluster: "sim", AuthInfo: user}
	out.CurrentContext = "sim"
	if err := clientcmd.WriteToFile(*out, path); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}
