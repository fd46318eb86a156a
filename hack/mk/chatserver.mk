# The chat server: build, run, Go tests.

RUN_ADDR ?= :8080
RUN_DATA_DIR ?= $(CURDIR)/data
RUN_ADMINS ?= admin
RUN_ADMIN_PASSWORD ?= chatadmin

# Packages whose tests need more than Go: the operator's envtest suites and the
# separate test modules run from their own targets.
GO_TEST_PKGS = $(shell $(GO) list ./... | grep -v -e '/controllers' -e '/api/' -e '/test/')

.PHONY: build
build: web-build ## @build build bin/chatserver with the web UI embedded
	CGO_ENABLED=0 $(GO) build -o $(BIN)/chatserver ./cmd/chatserver

.PHONY: run
run: build ## @run run the chat at http://localhost:8080 with data in ./data (admin: admin / chatadmin)
	CHAT_ADDR=$${CHAT_ADDR:-$(RUN_ADDR)} CHAT_DATA_DIR=$${CHAT_DATA_DIR:-$(RUN_DATA_DIR)} \
	CHAT_ADMINS=$${CHAT_ADMINS:-$(RUN_ADMINS)} CHAT_ADMIN_PASSWORD=$${CHAT_ADMIN_PASSWORD:-$(RUN_ADMIN_PASSWORD)} \
	$(BIN)/chatserver

.PHONY: vet
vet: ## @test gofmt check and go vet over the whole module
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: test-go
test-go: setup-redis vet ## @test Go unit and end-to-end tests of the chat server, with the race detector
	$(GO) test -race -count=1 $(GO_TEST_PKGS)

TEST_TARGETS += test-go
