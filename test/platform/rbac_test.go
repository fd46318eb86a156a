//go:build platform

package platform

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	operatorNamespace      = "chatcluster-system"
	operatorServiceAccount = "chatcluster-controller-manager"
)

// runManagerAsServiceAccount replaces the manager, which ran as the
// cluster's admin, with one that authenticates as the operator's
// ServiceAccount, bound by the RBAC of config/default (config/rbac, as
// `kubectl apply -k config/default` installs it, without the Deployment:
// the manager runs here, with leader election as in the Deployment).
func (p *platform) runManagerAsServiceAccount(ctx context.Context, t *testing.T) {
	t.Helper()
	manifests := p.kubectl(t, "", "kustomize", filepath.Join(p.repo, "config/default"))
	var keep []string
	for _, doc := range strings.Split(manifests, "\n---\n") {
		if strings.Contains(doc, "\nkind: Deployment\n") || strings.Contains(doc, "\nkind: CustomResourceDefinition\n") {
			continue
		}
		keep = append(keep, doc)
	}
	p.kubectl(t, strings.Join(keep, "\n---\n"), "apply", "--server-side", "-f", "-")
	token := strings.TrimSpace(p.kubectl(t, "", "-n", operatorNamespace, "create", "token", operatorServiceAccount, "--duration=2h"))
	kubeconfig := filepath.Join(p.work, "manager-serviceaccount.kubeconfig")
	if err := p.cluster.WriteTokenKubeconfig(kubeconfig, operatorServiceAccount, token); err != nil {
		t.Fatal(err)
	}
	stop(t, p.manager, 30*time.Second)
	p.manager = p.startManager(t, "manager-serviceaccount", kubeconfig,
		"--leader-elect", "--leader-election-namespace="+operatorNamespace)
	t.Logf("the manager runs as system:serviceaccount:%s:%s", operatorNamespace, operatorServiceAccount)
}

// requireNoForbidden fails when the manager was refused anything: its
// ServiceAccount's RBAC lacks a permission it uses.
func (p *platform) requireNoForbidden(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(p.manager.Log)
	if err != nil {
		t.Fatal(err)
	}
	var refused []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "forbidden") {
			refused = append(refused, line)
		}
	}
	if len(refused) > 0 {
		t.Fatalf("the manager was refused by RBAC:\n%s", strings.Join(refused, "\n"))
	}
}
