#!/usr/bin/env bash
# What make test-platform needs beyond the Kubernetes tools (make tools):
# root, since the platform kubelet makes network namespaces, mounts and
# switches users, and Debian's iproute2 (ip netns), util-linux (unshare,
# nsenter, setpriv) and mount, with which it runs pods as processes,
# redis-server and redis-cli (the Redis pods, their exec probe and the test's
# external Redis), openssl and python3 (the simulated cluster).
# Idempotent: installs only what is missing (hack/ci/setup-debian.sh).
set -euo pipefail
if ((EUID != 0)); then
	echo "setup-platform: the platform test (part of make test) must run as root: network namespaces, mounts, switching users; run: sudo make test-platform (or sudo make test)" >&2
	exit 1
fi
"$(dirname "$0")/setup-debian.sh" platform
echo "setup-platform: root, $(ip -V | sed 's/, libbpf.*//'), $(unshare --version)"
