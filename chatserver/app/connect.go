package app

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"

	"github.com/chatcluster/chatcluster/chatserver/config"
	"github.com/chatcluster/chatcluster/chatserver/elastic"
	"github.com/chatcluster/chatcluster/chatserver/kafka"
)

// activityTopic is the activity topic, and how the server and the indexer
// create it when it is missing.
func activityTopic(cfg *config.Config) kafka.TopicSpec {
	return kafka.TopicSpec{
		Name: cfg.KafkaTopic, Partitions: cfg.KafkaPartitions, ReplicationFactor: cfg.KafkaReplication, Retention: cfg.KafkaRetention,
	}
}

// kafkaConn is how both the server and the indexer reach Kafka: TLS when
// CHAT_KAFKA_TLS is on or a Kafka CA file is configured, SASL when a
// mechanism is.
func kafkaConn(cfg *config.Config) (kafka.Conn, error) {
	conn := kafka.Conn{Brokers: cfg.KafkaBrokers, Mechanism: cfg.KafkaMechanism, Username: cfg.KafkaUsername, Password: cfg.KafkaPassword}
	if cfg.KafkaTLS || cfg.KafkaCAFile != "" {
		conn.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.KafkaCAFile != "" {
		pem, err := readCA(config.EnvKafkaCAFile, cfg.KafkaCAFile)
		if err != nil {
			return conn, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		conn.TLS.RootCAs = pool
	}
	return conn, nil
}

// elasticClient is how both the server and the indexer reach Elasticsearch.
func elasticClient(cfg *config.Config) (*elastic.Client, error) {
	ec := elastic.Config{
		URL: cfg.ElasticURL, Username: cfg.ElasticUsername, Password: cfg.ElasticPassword,
		APIKey: cfg.ElasticAPIKey, Index: cfg.ElasticIndex, Retention: cfg.ElasticRetention,
	}
	if cfg.ElasticCAFile != "" {
		pem, err := readCA(config.EnvElasticsearchCAFile, cfg.ElasticCAFile)
		if err != nil {
			return nil, err
		}
		ec.CACert = pem
	}
	c, err := elastic.New(ec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", config.EnvElasticsearchURL, err)
	}
	return c, nil
}

// readCA reads the PEM bundle that env names and checks it holds a certificate.
func readCA(env, path string) ([]byte, error) {
	pem, err := os.ReadFile(filepath.Clean(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", env, err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in %s", env, path)
	}
	return pem, nil
}
