package kubelet

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestRepository(t *testing.T) {
	for ref, want := range map[string]string{
		"redis":                                "docker.io/library/redis",
		"redis:7.4.6":                          "docker.io/library/redis",
		"docker.io/library/redis:7":            "docker.io/library/redis",
		"apache/kafka:3.9.1":                   "docker.io/apache/kafka",
		"ghcr.io/chatcluster/chatserver:0.1.0": "ghcr.io/chatcluster/chatserver",
		"localhost:5000/chat@sha256:abc":       "localhost:5000/chat",
		"localhost/chat":                       "localhost/chat",
	} {
		if got := Repository(ref); got != want {
			t.Errorf("Repository(%q) = %q, want %q", ref, got, want)
		}
	}
}

func TestImageArgv(t *testing.T) {
	redis := Image{Program: "/usr/bin/redis-server", Entrypoint: "docker-entrypoint.sh", Commands: []string{"redis-server"}}
	chat := Image{Program: "/bin/chatserver", Entrypoint: "/chatserver"}
	for name, tc := range map[string]struct {
		img           Image
		command, args []string
		want          []string
		fails         bool
	}{
		"ArgsOnly":                       {img: chat, args: []string{"index"}, want: []string{"/bin/chatserver", "index"}},
		"CommandNamingTheEntrypoint":     {img: chat, command: []string{"/chatserver", "index"}, args: []string{"-x"}, want: []string{"/bin/chatserver", "index", "-x"}},
		"EntrypointScriptCommandDropped": {img: redis, args: []string{"redis-server", "--port", "1"}, want: []string{"/usr/bin/redis-server", "--port", "1"}},
		"OptionsGoToTheProgram":          {img: redis, args: []string{"--port", "1"}, want: []string{"/usr/bin/redis-server", "--port", "1"}},
		"CommandNotInTheImage":           {img: chat, command: []string{"/bin/sh"}, fails: true},
		"CommandByTheProgramsName":       {img: redis, command: []string{"redis-server"}, want: []string{"/usr/bin/redis-server"}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := tc.img.argv(tc.command, tc.args)
			if tc.fails != (err != nil) || !slices.Equal(got, tc.want) {
				t.Errorf("argv = %q, %v; want %q (fails: %v)", got, err, tc.want, tc.fails)
			}
		})
	}
}

func TestImagesLookup(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "prog")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	images := Images{
		"docker.io/library/redis": {Program: prog},
		"docker.io/library/mongo": {Program: filepath.Join(dir, "missing")},
		"docker.io/apache/kafka":  {Program: plain},
	}
	if img, err := images.Lookup("redis:7"); err != nil || img.Program != prog {
		t.Errorf("Lookup(redis:7) = %v, %v", img, err)
	}
	for _, ref := range []string{"nginx", "mongo:7", "apache/kafka:3"} {
		var pull *errImagePull
		if _, err := images.Lookup(ref); !errors.As(err, &pull) {
			t.Errorf("Lookup(%s) = %v, want an image pull error", ref, err)
		}
	}
}
