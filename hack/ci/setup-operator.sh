#!/usr/bin/env bash
# What the operator's tests need (make test-operator, make sim-up): openssl
# and python3 for the simulated cluster's certificates and ports, and the
# Kubernetes tools (kube-apiserver, etcd, kube-controller-manager,
# kube-scheduler, kubectl, kwok, helm) built from pinned Go modules into bin/
# (hack/tools/build.sh). Idempotent: installs only missing packages, and
# builds only a tool whose binary or stamp is missing or stale; a cold build
# takes 10-20 minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
hack/ci/setup-debian.sh operator
start=$SECONDS
BIN=${BIN:-$PWD/bin} hack/tools/build.sh | { grep -v ' is up to date$' || true; }
echo "setup-operator: Kubernetes tools ready in $((SECONDS - start))s"
