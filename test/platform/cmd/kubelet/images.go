package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/chatcluster/chatcluster/controllers"
	"github.com/chatcluster/chatcluster/test/platform/kubelet"
)

// An image family is a set of images the operator runs and the local
// program that stands in for them on this node.
type family struct {
	name  string
	image string // the operator's pinned image, for its repository
	def   kubelet.Image
	// program is the default program, relative to the programs directory
	// unless absolute.
	program string
}

// families are the images the operator pins (controllers.DefaultImages),
// each with what its image's metadata would say: entrypoint, the command its
// entrypoint script runs by name, and USER (or the user its entrypoint
// steps down to).
func families() []family {
	d := controllers.DefaultImages
	return []family{
		{"chatserver", d.ChatServer, kubelet.Image{Entrypoint: "/chatserver", User: 65532}, "chatserver"},
		{"redis", d.Redis, kubelet.Image{Entrypoint: "docker-entrypoint.sh", Commands: []string{"redis-server"}, User: 999}, "/usr/bin/redis-server"},
		{"mongodb", d.MongoDB, kubelet.Image{Entrypoint: "docker-entrypoint.sh", Commands: []string{"mongod"}, User: 999}, "standin-mongodb"},
		{"kafka", d.Kafka, kubelet.Image{Entrypoint: "/__cacert_entrypoint.sh", Commands: []string{"/etc/kafka/docker/run"}, User: 1000}, "standin-kafka"},
		{"elasticsearch", d.Elasticsearch, kubelet.Image{Entrypoint: "/bin/tini", Commands: []string{"eswrapper"}, User: 1000}, "standin-elasticsearch"},
	}
}

// imageTable maps each family's repository to its program: the one given
// with --program name=path (empty: none, so the image fails to pull), else
// the default, found in dir.
func imageTable(dir string, programs map[string]string) (kubelet.Images, error) {
	images := kubelet.Images{}
	known := map[string]bool{}
	for _, f := range families() {
		known[f.name] = true
		img := f.def
		img.Program = f.program
		if p, ok := programs[f.name]; ok {
			img.Program = p
		}
		if img.Program == "" {
			continue
		}
		if !filepath.IsAbs(img.Program) {
			img.Program = filepath.Join(dir, img.Program)
		}
		images[kubelet.Repository(f.image)] = img
	}
	for name := range programs {
		if !known[name] {
			names := make([]string, 0, len(known))
			for _, f := range families() {
				names = append(names, f.name)
			}
			return nil, fmt.Errorf("--program %s: unknown image family; known: %s", name, strings.Join(names, ", "))
		}
	}
	return images, nil
}
