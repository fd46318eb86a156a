# make lint: golangci-lint over the server's module with .golangci.yml
# (errcheck, staticcheck, gosec, revive's exported-comment rules and more).
# The pinned version is built into bin/ once, and again only when the pin
# changes; the test modules under test/ are linted by their own vet runs.
GOLANGCI_LINT_VERSION ?= v2.15.0
# Named by the Go toolchain too: the linter must be built by the Go that
# builds the module.
GOLANGCI_LINT := $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)-$(GOTOOLCHAIN)

$(GOLANGCI_LINT):
	@mkdir -p $(BIN)/.golangci-lint
	GOBIN=$(BIN)/.golangci-lint $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(BIN)/.golangci-lint/golangci-lint $@

.PHONY: lint
lint: $(GOLANGCI_LINT) ## @test golangci-lint (.golangci.yml) over the server's module
	$(GOLANGCI_LINT) run ./...

TEST_TARGETS += lint
