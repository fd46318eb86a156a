package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chatcluster/chatcluster/test/platform/kubelet"
)

// Kubelet is the platform kubelet run as a process.
type Kubelet struct {
	*Process
	StateDir string
	addr     string
}

// StartKubelet starts the kubelet binary for the sim's node with its state
// in dir and args added, and waits until its endpoint answers.
func StartKubelet(ctx context.Context, binary, kubeconfig, dir string, args ...string) (*Kubelet, error) {
	state := filepath.Join(dir, "kubelet")
	addrFile := filepath.Join(dir, "kubelet.addr")
	_ = os.Remove(addrFile)
	argv := append([]string{binary, "--kubeconfig", kubeconfig, "--state-dir", state,
		"--http-address-file", addrFile}, args...)
	p, err := Start("kubelet", filepath.Join(dir, "kubelet.log"), nil, argv...)
	if err != nil {
		return nil, err
	}
	k := &Kubelet{Process: p, StateDir: state}
	err = WaitFor(ctx, time.Minute, "the kubelet's endpoint", func(ctx context.Context) (bool, error) {
		select {
		case <-p.Exited():
			return false, fmt.Errorf("kubelet exited: %v (see %s)", p.Err(), p.Log)
		default:
		}
		b, err := os.ReadFile(addrFile)
		if err != nil {
			return false, nil
		}
		k.addr = strings.TrimSpace(string(b))
		return true, nil
	})
	if err != nil {
		_ = p.Stop(time.Minute)
		return nil, err
	}
	return k, nil
}

// Pods lists the pods the kubelet runs, with their forwarded ports.
func (k *Kubelet) Pods(ctx context.Context) ([]kubelet.PodInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+k.addr+"/pods", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var pods []kubelet.PodInfo
	if err := json.NewDecoder(resp.Body).Decode(&pods); err != nil {
		return nil, fmt.Errorf("GET /pods: %w", err)
	}
	return pods, nil
}

// Forward returns the host address of a pod's container port, by the
// port's name.
func (k *Kubelet) Forward(ctx context.Context, namespace, pod, portName string) (string, error) {
	pods, err := k.Pods(ctx)
	if err != nil {
		return "", err
	}
	for _, p := range pods {
		if p.Namespace != namespace || p.Name != pod {
			continue
		}
		for _, f := range p.Forwards {
			if f.Name == portName {
				return f.Address, nil
			}
		}
		return "", fmt.Errorf("pod %s/%s has no port named %q", namespace, pod, portName)
	}
	return "", fmt.Errorf("pod %s/%s is not running on the kubelet", namespace, pod)
}
