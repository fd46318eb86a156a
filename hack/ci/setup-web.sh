#!/usr/bin/env bash
# What CI needs before `make test` for the web UI: Debian's Chromium (the
# browser tests drive /usr/bin/chromium with playwright-core) and the npm
# packages of web/.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v chromium >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  [ -n "${CHAT_APT_UPDATED:-}" ] || apt-get update -qq
  apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi
chromium --version

(cd web && npm ci --no-audit --no-fund)
