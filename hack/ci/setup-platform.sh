#!/usr/bin/env bash
# What `make test-platform` needs beyond the operator's tools (setup-operator.sh)
# and Debian's redis-server (setup-redis.sh): iproute2 (ip netns) and
# util-linux (unshare, nsenter, setpriv) and mount, with which the platform
# kubelet runs pods as processes, and redis-server and redis-cli (the Redis
# pods and their exec probe, and the test's external Redis). The test runs as
# root. Idempotent: installs only what is missing.
set -euo pipefail

need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
for prog in unshare nsenter setpriv; do
	command -v "$prog" >/dev/null 2>&1 || { need+=(util-linux); break; }
done
command -v mount >/dev/null 2>&1 || need+=(mount)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
if ((${#need[@]})); then
	export DEBIAN_FRONTEND=noninteractive
	[[ -n ${CHAT_APT_UPDATED:-} ]] || apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
ip -V
unshare --version
