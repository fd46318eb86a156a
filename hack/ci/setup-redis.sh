#!/usr/bin/env bash
# What CI needs for the Redis tests (chatserver/redis, test/multi) and
# make multi-up: Debian's redis-server. The tests start their own servers,
# so the packaged service is left stopped.
set -euo pipefail

if ! command -v redis-server >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "${CHAT_APT_UPDATED:-}" ]; then
    apt-get update -qq
  fi
  apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi
redis-server --version
