package main

import (
	"testing"

	"github.com/chatcluster/chatcluster/controllers"
	"github.com/chatcluster/chatcluster/test/platform/kubelet"
)

func TestImageTable(t *testing.T) {
	images, err := imageTable("/opt/bin", map[string]string{"redis": "/usr/local/bin/redis-server", "kafka": ""})
	if err != nil {
		t.Fatal(err)
	}
	d := controllers.DefaultImages
	for image, program := range map[string]string{
		d.ChatServer + ":0.1.0": "/opt/bin/chatserver",
		d.Redis:                 "/usr/local/bin/redis-server",
		d.MongoDB:               "/opt/bin/standin-mongodb",
		d.Elasticsearch:         "/opt/bin/standin-elasticsearch",
	} {
		if got := images[kubelet.Repository(image)].Program; got != program {
			t.Errorf("%s runs %q, want %q", image, got, program)
		}
	}
	if _, ok := images[kubelet.Repository(d.Kafka)]; ok {
		t.Error("an empty --program still maps the image")
	}
	if _, err := imageTable("/opt/bin", map[string]string{"postgres": "/x"}); err == nil {
		t.Error("an unknown family was accepted")
	}
}
