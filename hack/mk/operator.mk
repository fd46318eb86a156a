# Operator: the ChatCluster API, its controller, the tools its tests run
# (a real kube-apiserver and friends built from Go modules) and its delivery
# (kustomize, Helm, kind). See docs/operator.md.

CONTROLLER_GEN ?= $(GO) run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0
ACTIONLINT ?= $(GO) run github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
KUBE_TOOLS := kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok helm
OPERATOR_GO_PKGS := ./api/... ./controllers/... ./cmd/manager/...
CHART_DIR := charts/chatcluster-operator
GENERATED := api/v1alpha1/zz_generated.deepcopy.go config/crd/bases config/rbac/role.yaml \
	$(CHART_DIR)/templates/crd-chatclusters.yaml $(CHART_DIR)/files/manager-rules.yaml

IMG_REGISTRY ?= ghcr.io/chatcluster
CHAT_VERSION ?= 0.1.0
CHAT_IMG ?= $(IMG_REGISTRY)/chatserver:$(CHAT_VERSION)
MANAGER_IMG ?= $(IMG_REGISTRY)/chatcluster-operator:$(CHAT_VERSION)
KIND ?= kind
KIND_CLUSTER ?= chatcluster
INGRESS_NGINX_VERSION ?= controller-v1.15.1
CONTAINER_TOOL ?= docker

TEST_TARGETS += test-operator

.PHONY: manifests
manifests: ## @operator regenerate the CRD and RBAC from the kubebuilder markers
	$(CONTROLLER_GEN) rbac:roleName=chatcluster-manager crd paths="./api/..." paths="./controllers/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	@mkdir -p $(CHART_DIR)/templates
	{ echo '{{- if .Values.crds.install }}'; \
	  sed '/controller-gen.kubebuilder.io\/version/a\    helm.sh/resource-policy: keep' config/crd/bases/chat.chatcluster.io_chatclusters.yaml; \
	  echo '{{- end }}'; } > $(CHART_DIR)/templates/crd-chatclusters.yaml
	sed '1,/^rules:/d' config/rbac/role.yaml > $(CHART_DIR)/files/manager-rules.yaml

.PHONY: generate
generate: ## @operator regenerate the deep-copy functions of the API
	$(CONTROLLER_GEN) object paths="./api/..."

.PHONY: check-generated
check-generated: manifests generate ## @operator fail when generated files differ from the committed ones
	@if [ -n "$$(git status --porcelain -- $(GENERATED))" ]; then \
		git status --short -- $(GENERATED); git diff --stat -- $(GENERATED); \
		echo "generated files differ from the committed ones: run make manifests generate and commit them" >&2; exit 1; fi

.PHONY: tools
tools: ## @build build kube-apiserver, etcd, kcm, scheduler, kubectl, kwok and helm into bin/ (only when missing or re-pinned)
	BIN=$(BIN) GO=$(GO) hack/tools/build.sh

.PHONY: test-operator
test-operator: check-generated setup-operator test-operator-unit test-operator-envtest test-operator-sim lint-workflows ## @test every operator test

.PHONY: test-operator-unit
test-operator-unit: ## @test operator unit tests (fake client)
	$(GO) vet $(OPERATOR_GO_PKGS)
	$(GO) test -race -count=1 ./api/... ./controllers/...

.PHONY: test-operator-envtest
test-operator-envtest: tools ## @test the CRD (every CEL rule) and the operator against a real kube-apiserver and etcd (envtest)
	KUBEBUILDER_ASSETS=$(BIN) $(GO) test -race -count=1 -tags envtest ./test/envtest/...

.PHONY: test-operator-sim
test-operator-sim: setup-operator ## @test dry-run=server of config/ and the chart, helm lint, the manager against a simulated cluster
	BIN=$(BIN) GO=$(GO) hack/sim/sim-test.sh

.PHONY: lint-workflows
lint-workflows: ## @test check the GitHub workflows with actionlint
	$(ACTIONLINT) .github/workflows/*.yaml

.PHONY: sim-up
sim-up: setup-operator ## @operator start a simulated cluster on 127.0.0.1; kubeconfig in bin/sim/kubeconfig
	BIN=$(BIN) hack/sim/sim-up.sh

.PHONY: sim-down
sim-down: ## @operator stop the simulated cluster
	BIN=$(BIN) hack/sim/sim-down.sh

.PHONY: run-manager
run-manager: ## @operator run the operator against the current kubeconfig
	$(GO) run ./cmd/manager

.PHONY: docker-build
docker-build: ## @kind build the chat-server and operator images
	$(CONTAINER_TOOL) build -t $(CHAT_IMG) -f Dockerfile .
	$(CONTAINER_TOOL) build -t $(MANAGER_IMG) -f Dockerfile.manager .

.PHONY: kind-up
kind-up: ## @kind create the kind cluster (kind-config.yaml: ingress-ready node, ports 80/443)
	$(KIND) get clusters | grep -qx $(KIND_CLUSTER) || $(KIND) create cluster --name $(KIND_CLUSTER) --config kind-config.yaml --wait 120s

.PHONY: kind-load
kind-load: ## @kind load the images into the kind cluster
	$(KIND) load docker-image --name $(KIND_CLUSTER) $(CHAT_IMG) $(MANAGER_IMG)

.PHONY: deploy
deploy: ## @kind install ingress-nginx (pinned) and the operator (Helm) into the current cluster
	kubectl apply -f https://raw.githubusercontent.com/kubernetes/ingress-nginx/$(INGRESS_NGINX_VERSION)/deploy/static/provider/kind/deploy.yaml
	kubectl -n ingress-nginx rollout status deployment/ingress-nginx-controller --timeout=180s
	helm upgrade --install chatcluster-operator charts/chatcluster-operator --namespace chatcluster-system --create-namespace \
		--set image.repository=$(IMG_REGISTRY)/chatcluster-operator --set image.tag=$(CHAT_VERSION) --set image.pullPolicy=IfNotPresent --wait

.PHONY: sample
sample: ## @kind apply the minimal sample in namespace chat and wait for it to be Ready
	kubectl create namespace chat --dry-run=client -o yaml | kubectl apply -f -
	kubectl -n chat apply -f config/samples/chat_v1alpha1_chatcluster_minimal.yaml
	kubectl -n chat wait --for=condition=Ready chatcluster/demo --timeout=600s

.PHONY: kind-down
kind-down: ## @kind delete the kind cluster
	$(KIND) delete cluster --name $(KIND_CLUSTER)
