//go:build platform

package platform

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// diagnose prints, when the test failed, what explains it: the cluster's
// objects, the warnings, the log of every container that is not ready,
// and the manager's and the kubelet's logs.
func (p *platform) diagnose(t *testing.T) {
	if !t.Failed() || p.cluster == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, args := range [][]string{
		{"get", "chatclusters,statefulsets,deployments,pods,pvc,endpointslices", "-A", "-o", "wide"},
		{"-n", namespace, "get", "chatcluster", name, "-o", "jsonpath={.status}"},
		{"get", "events", "-A", "--field-selector", "type=Warning", "--sort-by=.lastTimestamp"},
	} {
		out, err := p.cluster.Kubectl(ctx, "", args...)
		t.Logf("--- kubectl %s\n%s%v", strings.Join(args, " "), out, errOrEmpty(err))
	}
	if p.kubelet != nil {
		pods, err := p.kubelet.Pods(ctx)
		if err != nil {
			t.Logf("--- the kubelet's pods: %v", err)
		}
		for _, pod := range pods {
			for _, c := range pod.Containers {
				if !c.Ready {
					t.Logf("--- %s/%s %s: %s, %d restarts; log:\n%s", pod.Namespace, pod.Name, c.Name, c.State, c.Restarts, tail(pod.Logs[c.Name], 40))
				}
			}
		}
		t.Logf("--- kubelet log (%s):\n%s", p.kubelet.Log, tail(p.kubelet.Log, 40))
	}
	if p.manager != nil {
		t.Logf("--- manager log (%s):\n%s", p.manager.Log, tail(p.manager.Log, 40))
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func errOrEmpty(err error) any {
	if err == nil {
		return ""
	}
	return err
}
