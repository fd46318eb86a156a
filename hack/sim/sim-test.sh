#!/usr/bin/env bash
# sim-test.sh checks the operator's delivery against a simulated cluster
# (sim-up.sh): config/default, config/samples and the rendered Helm chart pass
# `kubectl apply --dry-run=server`, `helm lint` passes; then the manager runs,
# the minimal sample becomes Ready with its version and images in the status,
# an annotation removed from the spec leaves the Ingress, scaling and a
# Secret change roll out, a backend switched to external and back finds its
# retained volume claim again, and deleting the ChatCluster garbage-collects
# what it owned but the backends' claims, which can then be deleted (the
# claim protection controllers run, as on a real cluster). Every wait is for a condition, bounded by a generous timeout only
# so that a failure ends.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
BIN=${BIN:-$root/bin}
GO=${GO:-go}
SIM=$BIN/sim
cd "$root"

step() { echo "sim-test: $*"; }
fail() { echo "sim-test: FAIL: $*" >&2; exit 1; }

cleanup() {
	local rc=$?
	if [[ -n ${manager_pid:-} ]]; then
		kill "$manager_pid" 2>/dev/null || true
		wait "$manager_pid" 2>/dev/null || true
	fi
	if [[ $rc -ne 0 ]]; then
		echo "--- manager log (tail) ---" >&2
		tail -n 40 "$SIM/manager.log" >&2 2>/dev/null || true
	fi
	BIN=$BIN "$here/sim-down.sh" >/dev/null
	exit "$rc"
}

BIN=$BIN "$here/sim-down.sh" >/dev/null
BIN=$BIN GO=$GO "$here/sim-up.sh"
trap cleanup EXIT
export KUBECONFIG=$SIM/kubeconfig
k() { "$BIN/kubectl" "$@"; }
helm() { "$BIN/helm" "$@"; }

step "install the CRD; create namespaces"
k apply --server-side -k config/crd >/dev/null
# Polled: kubectl wait fails at once while the new CRD has no conditions yet.
for _ in $(seq 1 120); do
	[[ $(k get crd chatclusters.chat.chatcluster.io -o jsonpath='{.status.conditions[?(@.type=="Established")].status}') == True ]] && break
	sleep 0.5
done
[[ $(k get crd chatclusters.chat.chatcluster.io -o jsonpath='{.status.conditions[?(@.type=="Established")].status}') == True ]] ||
	fail "the CRD was not established"
k create namespace chatcluster-system >/dev/null
k create namespace chat >/dev/null

step "dry-run=server: config/default"
k kustomize config/default | k apply --server-side --force-conflicts --dry-run=server -f - >/dev/null
step "dry-run=server: config/samples"
k -n chat apply --server-side --dry-run=server -k config/samples >/dev/null
step "dry-run=server: the Helm chart, cluster-wide and namespaced"
helm template chatcluster-operator charts/chatcluster-operator -n chatcluster-system |
	k apply --server-side --force-conflicts --dry-run=server -f - >/dev/null
helm template chatcluster-operator charts/chatcluster-operator -n chatcluster-system \
	--set rbac.clusterWide=false --set watchNamespace=chat --set metrics.enabled=false --set leaderElection.enabled=false |
	k apply --server-side --force-conflicts --dry-run=server -f - >/dev/null
step "helm lint"
helm lint --strict charts/chatcluster-operator >/dev/null
step "dry-run=server rejects an invalid ChatCluster"
out=$(k -n chat apply --dry-run=server -f - 2>&1 <<'YAML' || true
apiVersion: chat.chatcluster.io/v1alpha1
kind: ChatCluster
metadata: {name: bad}
spec: {redis: {managed: {}, external: {secretName: x}}}
YAML
)
[[ $out == *"set exactly one of managed and external"* ]] ||
	fail "a ChatCluster with both managed and external Redis was not rejected by the CEL rule: $out"

step "start the manager"
"$GO" build -race -o "$SIM/manager" ./cmd/manager
"$SIM/manager" --metrics-bind-address=0 --health-probe-bind-address=127.0.0.1:0 >"$SIM/manager.log" 2>&1 &
manager_pid=$!

step "apply the minimal sample and wait for Ready"
k -n chat apply -f config/samples/chat_v1alpha1_chatcluster_minimal.yaml >/dev/null
k -n chat wait --for=condition=Ready chatcluster/demo --timeout=180s
k -n chat get chat demo
for kind in deployment/demo-chat-server deployment/demo-indexer service/demo-chat-server \
	configmap/demo-chat-server secret/demo-chat-server serviceaccount/demo-chat-server \
	ingress/demo-chat-server poddisruptionbudget/demo-chat-server networkpolicy/demo-backends \
	statefulset/demo-redis statefulset/demo-mongodb statefulset/demo-kafka statefulset/demo-elasticsearch; do
	k -n chat get "$kind" >/dev/null || fail "$kind missing"
done

step "the status records the version and the images"
k -n chat wait --for=jsonpath='{.status.version}'=0.1.0 chatcluster/demo --timeout=60s >/dev/null
[[ $(k -n chat get chatcluster demo -o jsonpath='{.status.images.redis}') == "$(k -n chat get statefulset demo-redis -o jsonpath='{.spec.template.spec.containers[0].image}')" ]] ||
	fail "status.images.redis is not the image Redis runs"

step "an Ingress annotation removed from the spec leaves the Ingress"
ingress_note() { k -n chat get ingress demo-chat-server -o jsonpath='{.metadata.annotations.example\.com/note}'; }
k -n chat patch chatcluster demo --type merge -p '{"spec":{"ingress":{"annotations":{"example.com/note":"x"}}}}' >/dev/null
for _ in $(seq 1 120); do [[ $(ingress_note) == x ]] && break; sleep 0.5; done
[[ $(ingress_note) == x ]] || fail "the annotation did not reach the Ingress"
k -n chat patch chatcluster demo --type merge -p '{"spec":{"ingress":{"annotations":null}}}' >/dev/null
for _ in $(seq 1 120); do [[ -z $(ingress_note) ]] && break; sleep 0.5; done
[[ -z $(ingress_note) ]] || fail "the annotation stayed on the Ingress after it left the spec"

step "scale to 3 replicas"
k -n chat patch chatcluster demo --type merge -p '{"spec":{"replicas":3}}' >/dev/null
k -n chat wait --for=jsonpath='{.status.readyReplicas}'=3 chatcluster/demo --timeout=120s >/dev/null
k -n chat wait --for=condition=Ready chatcluster/demo --timeout=120s >/dev/null
[[ $(k -n chat get deployment demo-chat-server -o jsonpath='{.status.readyReplicas}') == 3 ]] ||
	fail "deployment not at 3 ready replicas"

step "switch Elasticsearch to an external Secret; a missing Secret degrades"
k -n chat patch chatcluster demo --type merge \
	-p '{"spec":{"elasticsearch":{"managed":null,"external":{"secretName":"es"}}}}' >/dev/null
k -n chat wait --for=condition=Degraded chatcluster/demo --timeout=60s >/dev/null
k -n chat get chatcluster demo -o jsonpath='{.status.conditions[?(@.type=="Degraded")].message}' | grep -q '"es"' ||
	fail "Degraded message does not name the Secret"
es_claim_uid=$(k -n chat get pvc data-demo-elasticsearch-0 -o jsonpath='{.metadata.uid}')
k -n chat create secret generic es --from-literal=url=http://es.example:9200 --from-literal=apiKey=k1 >/dev/null
k -n chat wait --for=condition=Ready chatcluster/demo --timeout=120s >/dev/null
k -n chat wait --for=delete statefulset/demo-elasticsearch --timeout=60s >/dev/null
[[ $(k -n chat get pvc data-demo-elasticsearch-0 -o jsonpath='{.metadata.uid}') == "$es_claim_uid" ]] ||
	fail "the managed Elasticsearch's claim did not survive the switch to external (retainOnDelete defaults to true)"

step "switch Elasticsearch back to managed: the retained claim is used again"
k -n chat patch chatcluster demo --type merge \
	-p '{"spec":{"elasticsearch":{"external":null,"managed":{}}}}' >/dev/null
k -n chat wait --for=create statefulset/demo-elasticsearch --timeout=60s >/dev/null
k -n chat wait --for=condition=Ready chatcluster/demo --timeout=120s >/dev/null
[[ $(k -n chat get pvc data-demo-elasticsearch-0 -o jsonpath='{.metadata.uid}') == "$es_claim_uid" ]] ||
	fail "the managed Elasticsearch did not get its retained claim back"
k -n chat patch chatcluster demo --type merge \
	-p '{"spec":{"elasticsearch":{"managed":null,"external":{"secretName":"es"}}}}' >/dev/null
k -n chat wait --for=condition=Ready chatcluster/demo --timeout=120s >/dev/null

step "a Secret change rolls the chat server"
config_hash() { k -n chat get deployment demo-chat-server -o jsonpath='{.spec.template.metadata.annotations.chat\.chatcluster\.io/config-hash}'; }
hash_before=$(config_hash)
rs_before=$(k -n chat get replicasets -l app.kubernetes.io/component=chat-server -o name | sort)
k -n chat create secret generic es --from-literal=url=http://es.example:9200 --from-literal=apiKey=k2 \
	--dry-run=client -o yaml | k apply --server-side --force-conflicts -f - >/dev/null
for _ in $(seq 1 120); do
	[[ $(config_hash) != "$hash_before" ]] && break
	sleep 0.5
done
[[ $(config_hash) != "$hash_before" ]] || fail "pod template hash did not change"
k -n chat rollout status deployment/demo-chat-server --timeout=120s >/dev/null
rs_after=$(k -n chat get replicasets -l app.kubernetes.io/component=chat-server -o name | sort)
[[ $rs_after != "$rs_before" ]] || fail "no new ReplicaSet after the Secret change"
k -n chat wait --for=condition=Ready chatcluster/demo --timeout=120s >/dev/null

step "an owned object deleted by hand is put back"
k -n chat delete service demo-chat-server --wait >/dev/null
k -n chat wait --for=create service/demo-chat-server --timeout=60s >/dev/null

step "deleting the ChatCluster garbage-collects everything it owned"
k -n chat delete chatcluster demo --wait >/dev/null
for kind in deployment/demo-chat-server deployment/demo-indexer service/demo-chat-server \
	configmap/demo-chat-server secret/demo-chat-server statefulset/demo-redis statefulset/demo-kafka \
	networkpolicy/demo-backends poddisruptionbudget/demo-chat-server; do
	k -n chat wait --for=delete "$kind" --timeout=120s >/dev/null
done
k -n chat wait --for=delete pods -l app.kubernetes.io/instance=demo --timeout=120s >/dev/null

step "the managed backends' claims are retained, and can then be deleted"
for claim in data-demo-redis-0 data-demo-mongodb-0 data-demo-kafka-0; do
	k -n chat get pvc "$claim" >/dev/null || fail "claim $claim was deleted with the ChatCluster"
done
k -n chat delete pvc -l app.kubernetes.io/instance=demo --wait=false >/dev/null
k -n chat wait --for=delete pvc -l app.kubernetes.io/instance=demo --timeout=60s >/dev/null
step "PASS"
