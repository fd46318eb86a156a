#!/usr/bin/env bash
# config.sh PORT [REDIS_URL] writes, to standard output, the configuration
# of the Centrifugo peer that make bench-peers runs: the JSON protocol on
# /connection/websocket on 127.0.0.1:PORT, anonymous clients that may
# subscribe to and publish into any channel without a namespace (as the
# chat's rooms are open to every signed-in user), no history, presence or
# join/leave messages (the chat server's fan-out carries none either),
# errors only in the log, and the health check on /healthz, which chatload
# polls before it starts. With REDIS_URL, the Redis engine, so that two
# processes share channels; else the memory engine.
set -euo pipefail
port=${1:?usage: config.sh PORT [REDIS_URL]}
redis=${2:-}
engine='{"type":"memory"}'
if [ -n "$redis" ]; then
	engine="{\"type\":\"redis\",\"redis\":{\"address\":[\"$redis\"]}}"
fi
cat <<JSON
{
  "http_server": {"address": "127.0.0.1", "port": $port},
  "log": {"level": "error"},
  "engine": $engine,
  "client": {"insecure": true, "allowed_origins": ["*"]},
  "channel": {"without_namespace": {"allow_subscribe_for_client": true, "allow_publish_for_client": true}},
  "usage_stats": {"disabled": true},
  "health": {"enabled": true, "handler_prefix": "/healthz"}
}
JSON
