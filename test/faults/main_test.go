//go:build faults

package faults

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// bins are the programs the campaign runs, built once by TestMain.
var bins struct {
	chat     string // ./cmd/chatserver, or $FAULTS_CHATSERVER
	standins string // test/backends/cmd/standins
}

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	if err := soakFlags(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "chatfaults-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := buildAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// buildAll builds the chat server (unless $FAULTS_CHATSERVER names one
// built already) and the stand-ins into dir. The stand-ins are run directly
// rather than through chatserver/chattest/standin because the faults need
// what that helper keeps to itself: the process (to kill, stop and continue
// it), a fixed MongoDB address and a data directory that outlive a restart.
func buildAll(dir string) error {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return err
	}
	bins.chat = os.Getenv("FAULTS_CHATSERVER")
	if bins.chat == "" {
		bins.chat = filepath.Join(dir, "chatserver")
		if err := goBuild(root, bins.chat, "./cmd/chatserver", ""); err != nil {
			return err
		}
	}
	bins.standins = filepath.Join(dir, "standins")
	// -mod=mod: the stand-ins' module may need requirements the server's
	// module gained since its go.sum was tidied.
	return goBuild(filepath.Join(root, "test", "backends"), bins.standins, "./cmd/standins", "-mod=mod")
}

func goBuild(dir, out, pkg, goflags string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = dir
	if goflags != "" {
		cmd.Env = append(os.Environ(), "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" "+goflags))
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s in %s: %w\n%s", pkg, dir, err, b)
	}
	return nil
}
