// Command standin-kafka stands in for the apache/kafka image: a one-broker
// Kafka (franz-go's kfake) configured from the image's KAFKA_* environment
// variables, with its data in the log directory. It takes no arguments,
// refuses to start on a log directory that holds a directory Kafka would
// refuse (lost+found, for one), and exits 0 on SIGTERM after saving its
// state. See package standins/kafka for each variable.
package main

import (
	"os"

	"github.com/chatcluster/chatcluster/test/platform/standins"
	"github.com/chatcluster/chatcluster/test/platform/standins/kafka"
)

func main() {
	standins.Exit("standin-kafka", run(os.Args[1:], standins.OSEnv()))
}

func run(args []string, env standins.Env) error {
	log := standins.Logger("kafka")
	// The image's entrypoint runs the broker for its default command only.
	if len(args) > 0 && args[0] != "/etc/kafka/docker/run" {
		return standins.Refuse(1, "the stand-in runs the Kafka broker only, not %q", args[0])
	}
	cfg, err := kafka.FromEnv(env)
	if err != nil {
		return err
	}
	b, err := kafka.Start(cfg, log)
	if err != nil {
		return err
	}
	ctx, stop := standins.SignalContext()
	defer stop()
	err = b.Run(ctx)
	log.Info("stopped")
	return err
}
