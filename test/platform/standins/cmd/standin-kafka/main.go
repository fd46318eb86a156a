// Command standin-kafka stands in for the apache/kafka image: a one-broker
// Kafka (franz-go's kfake) configured from the image's KAFKA_* environment
// variables, with its data in the log directory. It takes no arguments,
// refuses to start on a log directory that holds a directory Kafka would
// refuse (lost+found, for one), and exits 0 on SIGTERM after saving its
// state. See package standins/kafka for each variable.
package main

import (
	"github.com/chatcluster/chatcluster/test/platform/standins"
	"github.com/chatcluster/chatcluster/test/platform/standins/kafka"
)

func main() {
	standins.Main("kafka", parse, kafka.Start)
}

// parse reads the broker's configuration from the environment. The image's
// entrypoint runs the broker for its default command only.
func parse(args []string, env standins.Env) (kafka.Config, error) {
	if len(args) > 0 && args[0] != "/etc/kafka/docker/run" {
		return kafka.Config{}, standins.Refuse(1, "the stand-in runs the Kafka broker only, not %q", args[0])
	}
	return kafka.FromEnv(env)
}
