#!/usr/bin/env bash
# check.sh runs the chat end-to-end checks against a ChatCluster served through
# an Ingress (the kind workflow: http://chat.localtest.me).
set -euo pipefail
url=${1:-http://chat.localtest.me}
cd "$(dirname "$0")/../.."
for path in /healthz /readyz /; do
	code=$(curl -s -o /dev/null -w '%{http_code}' "$url$path")
	[[ $code == 200 ]] || { echo "e2e-kind: GET $path = $code" >&2; exit 1; }
done
CHAT_E2E_URL=$url go test -count=1 -tags e2ekind -v ./test/e2e-kind/
