// Command standins runs the stand-ins of the data backends until it is
// interrupted: FerretDB (MongoDB wire protocol, SQLite storage) and kfake
// (an in-process Kafka broker). With -ferretdb-postgresql FerretDB keeps its
// data in a PostgreSQL server of its own instead, started with the programs
// of that directory (Debian's postgresql package: /usr/lib/postgresql/15/bin)
// and stopped with the stand-ins: SQLite takes about ten writes a second,
// too few to measure a busy room (make bench-hotroom). `make multi-up`
// starts it on fixed local ports for a person to try several chat-server
// instances by hand; tests start it through chatserver/chattest/standin, on
// free ports, with only the stand-in they need. Once every stand-in it runs
// listens, it prints where, as lines a shell can source:
//
//	CHAT_MONGODB_URI=mongodb://127.0.0.1:27017/
//	CHAT_KAFKA_BROKERS=127.0.0.1:9092
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
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// config is what the flags ask for.
type config struct {
	mongoAddr          string // empty: no FerretDB
	kafka              bool
	kafkaPort          int
	topic              string
	partitions         int
	refuseCreateTopics bool
	dataDir            string
	postgresqlBin      string // empty: FerretDB on SQLite
}

func main() {
	var c config
	flag.StringVar(&c.mongoAddr, "mongodb-addr", "127.0.0.1:27017", "listen address of FerretDB (port 0: a free one); empty: no FerretDB")
	flag.BoolVar(&c.kafka, "kafka", true, "run the Kafka broker")
	flag.IntVar(&c.kafkaPort, "kafka-port", 9092, "listen port of the Kafka broker (0: a free one), on every interface kfake chooses, 127.0.0.1 in practice")
	flag.StringVar(&c.topic, "kafka-topic", "chat.activity", "topic created at start")
	flag.IntVar(&c.partitions, "kafka-partitions", 3, "partitions of that topic; 0: no topic created at start")
	flag.BoolVar(&c.refuseCreateTopics, "kafka-refuse-create-topics", false,
		"refuse every topic creation, as a cluster whose administrators make the topics")
	flag.StringVar(&c.dataDir, "data-dir", "./standins-data", "directory for FerretDB's SQLite files and kfake's log")
	flag.StringVar(&c.postgresqlBin, "ferretdb-postgresql", "",
		"directory of PostgreSQL's initdb, pg_ctl and createdb: FerretDB keeps its data in a PostgreSQL server started with them (in a temporary directory) instead of SQLite")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "standins:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	for _, d := range []string{"ferretdb", "kafka"} {
		if err := os.MkdirAll(filepath.Join(c.dataDir, d), 0o755); err != nil {
			return err
		}
	}
	done := make(chan error, 1)
	if c.mongoAddr == "" {
		go func() { <-ctx.Done(); done <- nil }()
	} else {
		fc := &ferretdb.Config{
			Listener:  ferretdb.ListenerConfig{TCP: c.mongoAddr},
			Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
			Handler:   "sqlite",
			SQLiteURL: "file:" + filepath.Join(c.dataDir, "ferretdb") + "/",
		}
		if c.postgresqlBin != "" {
			pg, err := startPostgres(ctx, c.postgresqlBin)
			if err != nil {
				return err
			}
			// Stopped after FerretDB: run returns once FerretDB's Run has.
			defer pg.stop()
			fc.Handler, fc.SQLiteURL, fc.PostgreSQLURL = "postgresql", "", pg.URL()
		}
		fdb, err := ferretdb.New(fc)
		if err != nil {
			return fmt.Errorf("ferretdb: %w", err)
		}
		go func() { done <- fdb.Run(ctx) }()
		// New listens already: clients queue until Run accepts them.
		fmt.Printf("CHAT_MONGODB_URI=%s\n", fdb.MongoDBURI())
	}
	if c.kafka {
		kc, err := startKafka(c)
		if err != nil {
			stop()
			<-done
			return fmt.Errorf("kfake: %w", err)
		}
		defer kc.Close()
		fmt.Printf("CHAT_KAFKA_BROKERS=%s\n", kc.ListenAddrs()[0])
	}
	return <-done
}

// startKafka starts one kfake broker. It creates no topic by itself, as on a
// production cluster: the chat server and the indexer create the topics
// they need.
func startKafka(c config) (*kfake.Cluster, error) {
	opts := []kfake.Opt{kfake.Ports(c.kafkaPort), kfake.DataDir(filepath.Join(c.dataDir, "kafka"))}
	if c.partitions > 0 {
		opts = append(opts, kfake.SeedTopics(int32(c.partitions), c.topic))
	}
	kc, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, err
	}
	if c.refuseCreateTopics {
		kc.ControlKey(int16(kmsg.CreateTopics), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
			kc.KeepControl()
			req := kreq.(*kmsg.CreateTopicsRequest)
			resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
			for _, rt := range req.Topics {
				st := kmsg.NewCreateTopicsResponseTopic()
				st.Topic, st.ErrorCode = rt.Topic, kerr.TopicAuthorizationFailed.Code
				resp.Topics = append(resp.Topics, st)
			}
			return resp, nil, true
		})
	}
	return kc, nil
}
