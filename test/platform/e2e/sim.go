package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Sim is a simulated cluster started by hack/sim/sim-up.sh in a directory
// of its own, with kwok's pod stages off: the pods bound to its node are
// left to the platform kubelet.
type Sim struct {
	Dir        string
	Kubeconfig string
}

// StartSim runs sim-up.sh with BIN=kubeBin, SIM_DIR=dir and
// SIM_POD_STAGES=none. A cluster still running in dir (a run that was
// killed) is stopped first.
func StartSim(ctx context.Context, repo, kubeBin, dir string) (*Sim, error) {
	s := &Sim{Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig")}
	if err := s.Stop(); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(repo, "hack/sim/sim-up.sh"))
	cmd.Env = append(os.Environ(), "BIN="+kubeBin, "SIM_DIR="+dir, "SIM_POD_STAGES=none")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("sim-up.sh: %v\n%s", err, out)
	}
	return s, nil
}

// Stop stops the cluster's processes by the ids sim-up.sh recorded, in
// reverse order of start (etcd last), as sim-down.sh does for its default
// directory: SIGTERM, then SIGKILL after 10 seconds.
func (s *Sim) Stop() error {
	pidsFile := filepath.Join(s.Dir, "pids")
	f, err := os.Open(pidsFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var pids []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 0 {
			if pid, err := strconv.Atoi(fields[0]); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	f.Close()
	for i := len(pids) - 1; i >= 0; i-- {
		_ = syscall.Kill(pids[i], syscall.SIGTERM)
	}
	for i := len(pids) - 1; i >= 0; i-- {
		deadline := time.Now().Add(10 * time.Second)
		for syscall.Kill(pids[i], 0) == nil && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		_ = syscall.Kill(pids[i], syscall.SIGKILL)
	}
	return os.Remove(pidsFile)
}
