package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// postgres is a PostgreSQL server of the stand-ins' own, for FerretDB's
// PostgreSQL handler: a fresh cluster in a temporary directory, listening
// on a Unix socket in that directory only (so its port, the socket's name,
// is always free), stopped and removed by stop. As root it runs as the
// postgres user, which initdb requires.
type postgres struct {
	bin string   // the directory of initdb, pg_ctl and createdb
	dir string   // the cluster's data directory, also its socket directory
	as  []string // the command prefix that runs a program as the postgres user
}

// startPostgres initialises and starts a cluster with the programs of bin
// and creates the database ferretdb in it.
func startPostgres(ctx context.Context, bin string) (*postgres, error) {
	pg := &postgres{bin: bin}
	dir, err := os.MkdirTemp("", "standins-postgresql-")
	if err != nil {
		return nil, err
	}
	pg.dir = dir
	if os.Geteuid() == 0 {
		if err := pg.runAsPostgres(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	steps := [][]string{
		{"initdb", "-A", "trust", "-U", "postgres", "-E", "UTF8", "-D", dir},
		{"pg_ctl", "-D", dir, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60", "-o",
			fmt.Sprintf("-h '' -k %s", dir), "start"},
		{"createdb", "-h", dir, "-U", "postgres", "ferretdb"},
	}
	for i, step := range steps {
		if err := pg.run(ctx, step...); err != nil {
			if i > 0 {
				pg.stop()
			} else {
				_ = os.RemoveAll(dir)
			}
			return nil, err
		}
	}
	return pg, nil
}

// runAsPostgres gives the data directory to the postgres user and has
// every program run as that user.
func (pg *postgres) runAsPostgres() error {
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("postgresql as root needs the postgres user (Debian's postgresql package makes it): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(pg.dir, uid, gid); err != nil {
		return err
	}
	pg.as = []string{"runuser", "-u", "postgres", "--"}
	return nil
}

// URL is the address FerretDB's PostgreSQL handler connects to.
func (pg *postgres) URL() string {
	return "postgres://postgres@/ferretdb?host=" + url.QueryEscape(pg.dir)
}

// stop stops the server and removes its directory.
func (pg *postgres) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pg.run(ctx, "pg_ctl", "-D", pg.dir, "-m", "fast", "-w", "stop"); err != nil {
		fmt.Fprintln(os.Stderr, "standins:", err)
	}
	_ = os.RemoveAll(pg.dir)
}

// run runs one program of pg.bin, as the postgres user when root.
func (pg *postgres) run(ctx context.Context, args ...string) error {
	argv := append(append(pg.as[:len(pg.as):len(pg.as)], filepath.Join(pg.bin, args[0])), args[1:]...)
	// The programs of the directory the command line names, run in a
	// directory the postgres user may enter.
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...) //nolint:gosec
	cmd.Dir = pg.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) || len(out) > 0 {
			return fmt.Errorf("postgresql %s: %w: %s", args[0], err, strings.TrimSpace(string(out)))
		}
		return fmt.Errorf("postgresql %s: %w", args[0], err)
	}
	return nil
}
