#!/usr/bin/env bash
# build.sh builds the pinned Kubernetes tools into $BIN (default ./bin), one Go
# module per tool family so their dependency graphs never meet each other or the
# root module. A tool is rebuilt only when its binary is missing or when its
# stamp (the module's go.mod and go.sum plus the link flags) changed.
#
# usage: hack/tools/build.sh [kube|etcd|kwok|helm ...]   (default: all)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
BIN=${BIN:-$(cd "$here/../.." && pwd)/bin}
GO=${GO:-go}
KUBE_VERSION=v1.37.2
mkdir -p "$BIN/.stamps"

kube_ldflags="-s -w"
for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
	kube_ldflags+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=37"
	kube_ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done

# build MODULE LDFLAGS NAME=PACKAGE...
build() {
	local mod=$1 ldflags=$2
	shift 2
	local stamp
	stamp=$(cat "$here/$mod/go.mod" "$here/$mod/go.sum" <(echo "$ldflags") | sha256sum | cut -d' ' -f1)
	for spec in "$@"; do
		local name=${spec%%=*} pkg=${spec#*=}
		if [[ -x "$BIN/$name" && "$(cat "$BIN/.stamps/$name" 2>/dev/null)" == "$stamp" ]]; then
			echo "tools: $name is up to date"
			continue
		fi
		echo "tools: building $name ($pkg)"
		local start=$SECONDS
		(cd "$here/$mod" && "$GO" build -ldflags "$ldflags" -o "$BIN/$name" "$pkg")
		echo "$stamp" >"$BIN/.stamps/$name"
		echo "tools: built $name in $((SECONDS - start))s"
	done
}

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(kube etcd kwok helm)
for t in "${targets[@]}"; do
	case $t in
	kube) build kube "$kube_ldflags" \
		kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver \
		kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager \
		kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler \
		kubectl=k8s.io/kubernetes/cmd/kubectl ;;
	etcd) build etcd "-s -w" etcd=. ;;
	kwok) build kwok "-s -w" kwok=sigs.k8s.io/kwok/cmd/kwok ;;
	helm) build helm "-s -w -X helm.sh/helm/v3/internal/version.version=v3.22.0" helm=helm.sh/helm/v3/cmd/helm ;;
	*) echo "tools: unknown tool family $t" >&2; exit 2 ;;
	esac
done
