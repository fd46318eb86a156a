#!/usr/bin/env bash
# check.sh runs the chat end-to-end checks against a ChatCluster served through
# an Ingress (the kind workflow: http://chat.localtest.me).
set -euo pipefail
url=${1:-http://chat.localtest.me}
cd "$(dirname "$0")/../.."
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/")
[[ $code == 200 ]] || { echo "e2e-kind: GET / = $code" >&2; exit 1; }
# The probes and metrics live on the pods' management port, never behind the
# Ingress.
for path in /healthz /readyz /metrics; do
	code=$(curl -s -o /dev/null -w '%{http_code}' "$url$path")
	[[ $code == 404 ]] || { echo "e2e-kind: GET $path through the Ingress = $code, want 404" >&2; exit 1; }
done
# A client cannot sign in as someone else by sending the proxy header in
# password mode.
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Forwarded-User: admin' -H 'Content-Type: application/json' \
	-d '{}' "$url/api/session")
[[ $code != 200 ]] || { echo "e2e-kind: POST /api/session with only X-Forwarded-User signed in" >&2; exit 1; }
CHAT_E2E_URL=$url go test -count=1 -tags e2ekind -v ./test/e2e-kind/
