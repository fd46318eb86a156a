// Command standins runs the stand-ins of the data backends on fixed local
// ports until it is interrupted: FerretDB (MongoDB wire protocol, SQLite
// storage) and kfake (an in-process Kafka broker). It is what `make multi-up`
// starts for a person to try several chat-server instances by hand; tests
// start their own stand-ins on free ports instead.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	mongoAddr := flag.String("mongodb-addr", "127.0.0.1:27017", "listen address of FerretDB")
	kafkaPort := flag.Int("kafka-port", 9092, "listen port of the Kafka broker (on every interface kfake chooses, 127.0.0.1 in practice)")
	topic := flag.String("kafka-topic", "chat.activity", "topic created at start")
	partitions := flag.Int("kafka-partitions", 3, "partitions of that topic")
	dataDir := flag.String("data-dir", "./standins-data", "directory for FerretDB's SQLite files and kfake's log")
	flag.Parse()
	if err := run(*mongoAddr, *kafkaPort, *topic, int32(*partitions), *dataDir); err != nil {
		fmt.Fprintln(os.Stderr, "standins:", err)
		os.Exit(1)
	}
}

func run(mongoAddr string, kafkaPort int, topic string, partitions int32, dataDir string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	for _, d := range []string{"ferretdb", "kafka"} {
		if err := os.MkdirAll(filepath.Join(dataDir, d), 0o755); err != nil {
			return err
		}
	}
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	fdb, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: mongoAddr},
		Logger:    quiet,
		Handler:   "sqlite",
		SQLiteURL: "file:" + filepath.Join(dataDir, "ferretdb") + "/",
	})
	if err != nil {
		return fmt.Errorf("ferretdb: %w", err)
	}
	kc, err := kfake.NewCluster(
		kfake.Ports(kafkaPort),
		kfake.SeedTopics(partitions, topic),
		// No automatic topic creation, as on a production cluster: the chat
		// server and the indexer create the topics they need.
		kfake.DataDir(filepath.Join(dataDir, "kafka")),
	)
	if err != nil {
		return fmt.Errorf("kfake: %w", err)
	}
	defer kc.Close()

	done := make(chan error, 1)
	go func() { done <- fdb.Run(ctx) }()
	fmt.Printf("CHAT_MONGODB_URI=%s\nCHAT_KAFKA_BROKERS=%s\n", fdb.MongoDBURI(), kc.ListenAddrs()[0])
	<-ctx.Done()
	return <-done
}
