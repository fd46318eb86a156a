#!/usr/bin/env bash
# What the browser tests (make test-web-e2e) need besides the npm packages of
# web/, which make installs itself (web-deps): Debian's Chromium, driven by
# playwright-core at ${CHROMIUM_PATH:-/usr/bin/chromium}, and the DejaVu fonts
# the screenshots are taken with. Idempotent: installs only what is missing
# (hack/ci/setup-debian.sh).
set -euo pipefail
"$(dirname "$0")/setup-debian.sh" web
echo "setup-web: $("${CHROMIUM_PATH:-/usr/bin/chromium}" --version 2>/dev/null)"
