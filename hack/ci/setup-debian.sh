#!/usr/bin/env bash
# setup-debian.sh installs the Debian packages that parts of the tests need,
# and only those missing: a machine that has them all runs no apt-get at all.
#
# usage: hack/ci/setup-debian.sh [redis|web|operator|platform ...]   (default: all)
#
#   redis     redis-server: the Redis tests (test-go, test-redis, test-multi,
#             test-backends) and make multi-up start their own servers
#   web       chromium, fonts-dejavu-core and fonts-noto-color-emoji (reactions): the browser tests
#   operator  openssl and python3: the simulated cluster's certificates and ports
#   platform  iproute2, util-linux, mount, redis-server, redis-tools, openssl,
#             python3: the platform kubelet's pods, its Redis and its cluster
#
# Installing needs root: as root it runs apt-get; otherwise through sudo when
# sudo works without a password; otherwise it stops, naming what is missing
# and the command to run as root.
set -euo pipefail

script=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
groups=("$@")
((${#groups[@]})) || groups=(redis web operator platform)

packages=() # missing packages, each once
reasons=()  # what is missing, for the message
# need PACKAGE PROGRAM...: PACKAGE is missing when one of its programs (a
# command on PATH, or an absolute path) is not there.
need() {
	local pkg=$1 prog
	shift
	for prog; do
		if [[ $prog == /* ]]; then [[ -e $prog ]] && continue; else command -v "$prog" >/dev/null 2>&1 && continue; fi
		reasons+=("$prog (package $pkg)")
		[[ " ${packages[*]} " == *" $pkg "* ]] || packages+=("$pkg")
		return
	done
}

for group in "${groups[@]}"; do
	case $group in
	redis) need redis-server redis-server ;;
	web)
		need chromium "${CHROMIUM_PATH:-/usr/bin/chromium}"
		need fonts-dejavu-core /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
		need fonts-noto-color-emoji /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf
		;;
	operator)
		need openssl openssl
		need python3 python3
		;;
	platform)
		need iproute2 ip
		need util-linux unshare nsenter setpriv
		need mount mount
		need redis-server redis-server
		need redis-tools redis-cli
		need openssl openssl
		need python3 python3
		;;
	*)
		echo "setup-debian: unknown group $group (redis, web, operator, platform)" >&2
		exit 2
		;;
	esac
done
((${#packages[@]})) || exit 0

if ((EUID == 0)); then
	as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	as_root=(sudo)
else
	{
		echo "setup-debian: missing: ${reasons[*]}"
		echo "setup-debian: installing Debian packages needs root; run this once, then make again:"
		echo "    sudo $script ${groups[*]}"
	} >&2
	exit 1
fi

start=$SECONDS
echo "setup-debian: installing ${packages[*]}"
# One apt-get update serves every install within the hour (make test installs
# for several parts in a row on a fresh machine).
stamp=${TMPDIR:-/tmp}/chatcluster-apt-updated
if [[ -z $(find "$stamp" -mmin -60 2>/dev/null) ]] || ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
	"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	touch "$stamp" 2>/dev/null || true
fi
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
echo "setup-debian: installed ${packages[*]} in $((SECONDS - start))s"
