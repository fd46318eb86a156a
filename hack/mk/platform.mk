# The platform test: a ChatCluster applied to a simulated cluster, reconciled
# by the real operator, its pods run as real processes by the platform
# kubelet (test/platform/README.md). Needs root; its prerequisites install
# the Debian packages (setup-platform) and build the Kubernetes tools (tools).

PLATFORM_BIN := $(BIN)/platform
PLATFORM_GO_PKGS := ./...

TEST_TARGETS += test-platform

# The kubelet and the manager are built with the race detector: a race found
# while the test runs makes them exit with status 66 when stopped, which fails
# the test. The chat server is built as its image builds it.
.PHONY: platform-build
platform-build: ## @build build the platform kubelet, the backend stand-ins, the chat server and the manager into bin/platform
	@mkdir -p $(PLATFORM_BIN)
	CGO_ENABLED=0 $(GO) build -o $(PLATFORM_BIN)/chatserver ./cmd/chatserver
	$(GO) build -race -o $(PLATFORM_BIN)/manager ./cmd/manager
	cd test/platform && $(GO) build -o $(PLATFORM_BIN)/ ./standins/cmd/...
	cd test/platform && $(GO) build -race -o $(PLATFORM_BIN)/kubelet ./cmd/kubelet

.PHONY: test-platform
test-platform: setup-platform tools platform-build ## @test the whole platform: the operator's ChatCluster run as real processes on a simulated cluster (root)
	@out=$$(cd test/platform && gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	cd test/platform && $(GO) vet -tags platform $(PLATFORM_GO_PKGS)
	cd test/platform && $(GO) test -race -count=1 -tags platform ./kubelet/... ./cmd/... ./standins/...
	cd test/platform && KUBE_BIN=$(BIN) PLATFORM_BIN=$(PLATFORM_BIN) \
		$(GO) test -tags platform -count=1 -v -timeout 40m -run '^TestPlatform$$' .
