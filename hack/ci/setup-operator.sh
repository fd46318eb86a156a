#!/usr/bin/env bash
# What the operator's tests need before `make test`: openssl and python3 for
# the simulated cluster's certificates and ports, and the Kubernetes tools
# (kube-apiserver, etcd, kube-controller-manager, kube-scheduler, kubectl,
# kwok, helm) built from pinned Go modules into bin/. The build is skipped for
# each tool whose binary and stamp are already there; a cold build takes
# 10-20 minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")/../.."

need=()
command -v openssl >/dev/null || need+=(openssl)
command -v python3 >/dev/null || need+=(python3)
if ((${#need[@]})); then
	[[ -n ${CHAT_APT_UPDATED:-} ]] || apt-get update -qq
	apt-get install -y -qq "${need[@]}" >/dev/null
fi

start=$SECONDS
make --no-print-directory tools
echo "setup-operator: tools ready in $((SECONDS - start))s"
