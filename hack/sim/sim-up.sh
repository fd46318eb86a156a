#!/usr/bin/env bash
# sim-up.sh starts a simulated Kubernetes cluster on 127.0.0.1 from the tools
# in $BIN: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
# kwok (one fake node whose pods turn Running and Ready without containers),
# plus a default StorageClass and a few hostPath PersistentVolumes of that
# class for StatefulSets to bind. It writes the admin kubeconfig to
# $SIM_DIR/kubeconfig; sim-down.sh stops it all (for the default SIM_DIR).
#
# Options (environment):
#   SIM_DIR         where the cluster keeps its state, logs, pids and
#                   kubeconfig; default $BIN/sim (the one sim-down.sh stops).
#                   A cluster elsewhere is stopped by killing the pids listed
#                   in $SIM_DIR/pids, as sim-down.sh does.
#   SIM_POD_STAGES  fast (default): kwok makes every pod Running and Ready at
#                   once without running anything, and deletes pods; none:
#                   kwok only initialises the node and keeps its heartbeat,
#                   so the pods bound to sim-node-0 are left to whatever acts
#                   as that node's kubelet (test/platform's harness).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BIN=${BIN:-$root/bin}
GO=${GO:-go}
SIM=${SIM_DIR:-$BIN/sim}
SIM_POD_STAGES=${SIM_POD_STAGES:-fast}
case $SIM_POD_STAGES in
fast) pod_stages=(pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml) ;;
none) pod_stages=() ;;
*)
	echo "sim: SIM_POD_STAGES must be fast or none, not $SIM_POD_STAGES" >&2
	exit 2
	;;
esac

if [[ -f $SIM/pids ]]; then
	echo "sim: already running (pids in $SIM/pids); run make sim-down first" >&2
	exit 1
fi
rm -rf "$SIM"
mkdir -p "$SIM"/{pki,logs,etcd,pv}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
etcd_port=$(free_port)
peer_port=$(free_port)
api_port=$(free_port)

# Certificates: a CA, the API server's serving certificate and the service
# account signing key.
pki=$SIM/pki
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=sim-ca \
	-keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver \
	-keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n' >"$pki/san.ext"
openssl x509 -req -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
	-days 2 -extfile "$pki/san.ext" -out "$pki/apiserver.crt" 2>/dev/null
openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
token=$(openssl rand -hex 16)
echo "$token,admin,admin,system:masters" >"$pki/tokens.csv"

cat >"$SIM/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: sim
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $pki/ca.crt
users:
- name: admin
  user:
    token: $token
contexts:
- name: sim
  context: {cluster: sim, user: admin, namespace: default}
current-context: sim
KUBECONFIG

# On any failure, stop what was started (as sim-down.sh does, for any SIM_DIR).
stop_started() {
	[[ -f $SIM/pids ]] || return 0
	tac "$SIM/pids" | while read -r pid _; do kill "$pid" 2>/dev/null || true; done
	tac "$SIM/pids" | while read -r pid _; do
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || continue 2
			sleep 0.2
		done
		kill -9 "$pid" 2>/dev/null || true
	done
	rm -f "$SIM/pids"
}
trap 'rc=$?; [[ $rc -eq 0 ]] || stop_started; exit $rc' EXIT

start() {
	local name=$1
	shift
	"$@" >"$SIM/logs/$name.log" 2>&1 &
	echo "$! $name" >>"$SIM/pids"
}

start etcd "$BIN/etcd" --name sim --data-dir "$SIM/etcd" \
	--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
	--listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
	--initial-cluster "sim=http://127.0.0.1:$peer_port" --unsafe-no-fsync

start kube-apiserver "$BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
	--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
	--tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
	--client-ca-file "$pki/ca.crt" --token-auth-file "$pki/tokens.csv" --authorization-mode RBAC \
	--service-account-issuer https://kubernetes.default.svc --service-account-key-file "$pki/sa.pub" \
	--service-account-signing-key-file "$pki/sa.key" --service-cluster-ip-range 10.0.0.0/24 \
	--allow-privileged --endpoint-reconciler-type none

kubectl=("$BIN/kubectl" --kubeconfig "$SIM/kubeconfig")
for _ in $(seq 1 120); do
	"${kubectl[@]}" get --raw /readyz >/dev/null 2>&1 && break
	sleep 0.5
done
"${kubectl[@]}" get --raw /readyz >/dev/null || { echo "sim: kube-apiserver did not become ready; see $SIM/logs" >&2; exit 1; }

start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig "$SIM/kubeconfig" \
	--controllers deployment,replicaset,statefulset,serviceaccount,serviceaccount-token,garbagecollector,nodelifecycle,namespace,persistentvolume-binder,disruption,persistentvolumeclaim-protection-controller,persistentvolume-protection-controller,persistentvolume-expander-controller,endpointslice-controller,root-ca-certificate-publisher-controller \
	--leader-elect=false --bind-address 127.0.0.1 --secure-port 0 \
	--service-account-private-key-file "$pki/sa.key" --root-ca-file "$pki/ca.crt" \
	--concurrent-gc-syncs 5
start kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$SIM/kubeconfig" \
	--leader-elect=false --bind-address 127.0.0.1 --secure-port 0

# kwok's stages: nodes initialise and heartbeat; with SIM_POD_STAGES=fast
# pods turn Ready at once.
stage_dir=$(cd "$here/../tools/kwok" && "$GO" list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage
for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml ${pod_stages[@]+"${pod_stages[@]}"}; do
	echo "---"
	cat "$stage_dir/$f"
done >"$SIM/stages.yaml"
start kwok "$BIN/kwok" --kubeconfig "$SIM/kubeconfig" --manage-all-nodes=true -c "$SIM/stages.yaml"

"${kubectl[@]}" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Node
metadata:
  name: sim-node-0
  annotations: {kwok.x-k8s.io/node: fake}
  labels: {kubernetes.io/hostname: sim-node-0, kubernetes.io/os: linux, type: kwok, ingress-ready: "true"}
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110"}
  capacity: {cpu: "32", memory: 256Gi, pods: "110"}
YAML
# The default StorageClass: claims without a class get it, and bind to the
# pre-created PersistentVolumes of that class (nothing provisions).
{
	cat <<YAML
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/no-provisioner
reclaimPolicy: Delete
volumeBindingMode: Immediate
allowVolumeExpansion: true
YAML
	for i in $(seq 0 9); do
		cat <<YAML
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: sim-pv-$i}
spec:
  storageClassName: standard
  capacity: {storage: 20Gi}
  accessModes: [ReadWriteOnce, ReadOnlyMany, ReadWriteMany]
  persistentVolumeReclaimPolicy: Delete
  hostPath: {path: $SIM/pv/$i}
YAML
	done
} | "${kubectl[@]}" apply -f - >/dev/null

"${kubectl[@]}" wait --for=condition=Ready node/sim-node-0 --timeout=60s >/dev/null
echo "sim: up; export KUBECONFIG=$SIM/kubeconfig (logs in $SIM/logs)"
