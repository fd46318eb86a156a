package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatcluster/chatcluster/chatserver/config"
	"github.com/chatcluster/chatcluster/chatserver/elastic"
	"github.com/chatcluster/chatcluster/chatserver/kafka"
	"github.com/chatcluster/chatcluster/chatserver/mongo"
	"github.com/chatcluster/chatcluster/chatserver/service"
)

// SpoolDirName is the activity spool's directory inside the data directory.
const SpoolDirName = "activity-spool"

// openDataBackends replaces the embedded users, messages, activity log and
// activity index with MongoDB, Kafka and Elasticsearch where configured, and
// the sessions with MongoDB too when Redis does not keep them.
func openDataBackends(ctx context.Context, cfg *config.Config, b *service.Backends, log *slog.Logger) error {
	if cfg.MongoURI != "" {
		db, err := mongo.Open(ctx, mongo.Config{URI: cfg.MongoURI, Database: cfg.MongoDatabase, CAFile: cfg.MongoDBCAFile})
		if err != nil {
			return fmt.Errorf("CHAT_MONGODB_URI: %w", err)
		}
		b.OnClose(db.Close)
		b.Users, b.Messages = db, db
		if cfg.RedisURL == "" {
			// Sessions name users, so they go where the users are, unless
			// Redis keeps them.
			b.Sessions = db
		}
		b.AddCheck("mongodb", db, service.Critical)
	}
	if len(cfg.KafkaBrokers) > 0 {
		conn, err := kafkaConn(cfg)
		if err != nil {
			return err
		}
		l, err := kafka.Open(kafka.Config{
			Conn:         conn,
			Topic:        activityTopic(cfg),
			SpoolDir:     filepath.Join(cfg.DataDir, SpoolDirName),
			FlushTimeout: cfg.ShutdownTimeout / 2,
			Logger:       log,
		})
		if err != nil {
			return fmt.Errorf("CHAT_KAFKA_BROKERS: %w", err)
		}
		b.OnClose(l.Close)
		b.Activity = l
		b.AddCheck("kafka", l, service.Degrading)
		b.Collectors = append(b.Collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "chat_activity_spool_events",
			Help: "Activity events in the local spool that Kafka has not acknowledged yet.",
		}, func() float64 { return float64(l.Backlog()) }))
	}
	if cfg.ElasticURL != "" {
		c, err := elasticClient(cfg)
		if err != nil {
			return err
		}
		b.Index = c
		b.AddCheck("elasticsearch", c, service.Degrading)
	}
	if (len(cfg.KafkaBrokers) > 0) != (cfg.ElasticURL != "") {
		log.Warn("activity events are searched where they are not written: configure Kafka and Elasticsearch together, with `chatserver index` between them",
			"kafka", len(cfg.KafkaBrokers) > 0, "elasticsearch", cfg.ElasticURL != "")
	}
	return nil
}

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
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", env, err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in %s", env, path)
	}
	return pem, nil
}
