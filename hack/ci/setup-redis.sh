#!/usr/bin/env bash
# What the Redis tests (test-go, test-redis, test-multi, test-backends) and
# make multi-up need: Debian's redis-server. The tests start their own
# servers on free ports; the packaged service is not used.
# Idempotent: installs only what is missing (hack/ci/setup-debian.sh).
set -euo pipefail
"$(dirname "$0")/setup-debian.sh" redis
echo "setup-redis: $(redis-server --version | cut -d' ' -f1-3)"
