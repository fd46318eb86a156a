package controllers

// Images are the container images the operator runs. The defaults are pinned
// here, in one place; the manager's flags (and the Helm chart's values)
// override them for a whole installation, and a ChatCluster's
// spec.<backend>.managed.image for one backend of one ChatCluster.
type Images struct {
	// ChatServer is the chat-server repository; the tag is spec.version.
	ChatServer    string
	Redis         string
	MongoDB       string
	Kafka         string
	Elasticsearch string
}

// DefaultImages are the pinned images.
var DefaultImages = Images{
	ChatServer:    "ghcr.io/chatcluster/chatserver",
	Redis:         "docker.io/library/redis:7.4.6",
	MongoDB:       "docker.io/library/mongo:7.0.25",
	Kafka:         "docker.io/apache/kafka:3.9.1",
	Elasticsearch: "docker.elastic.co/elasticsearch/elasticsearch:8.19.4",
}
