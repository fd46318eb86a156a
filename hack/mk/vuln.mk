# make vuln: govulncheck over the server's module and the test modules, which
# fails on a vulnerability that their code can reach. Its database is built
# from the pinned golang.org/x/vulndb module (the module proxy is the only
# network CI has): hack/vuln/build-db.sh. govulncheck and the database are
# built into bin/ once, and again only when a pin (or the Go toolchain that
# govulncheck is built with, which must be as new as the one it checks)
# changes.
#   make vuln VULNDB_VERSION=v0.0.0-…     against a newer database
GOVULNCHECK_VERSION ?= v1.10.0
VULNDB_VERSION ?= v0.0.0-20261105234957-e22db6528018
GOVULNCHECK := $(BIN)/govulncheck-$(GOVULNCHECK_VERSION)-$(GOTOOLCHAIN)
VULNDB := $(BIN)/vulndb-$(VULNDB_VERSION)
VULN_MODULES := . test/backends test/platform

TEST_TARGETS += vuln

$(GOVULNCHECK):
	@mkdir -p $(BIN)/.govulncheck
	GOBIN=$(BIN)/.govulncheck $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)
	mv $(BIN)/.govulncheck/govulncheck $@

$(VULNDB):
	GO=$(GO) hack/vuln/build-db.sh $(VULNDB_VERSION) $@

# govulncheck asks the go command on PATH which release the standard library
# is, outside module mode, where GOTOOLCHAIN does not switch toolchains: the
# toolchain in force goes first on PATH.
.PHONY: vuln
vuln: $(GOVULNCHECK) $(VULNDB) ## @test govulncheck over the module and test/backends, test/platform: fails on reachable vulnerabilities
	@set -euo pipefail; export PATH="$$($(GO) env GOROOT)/bin:$$PATH"; \
	for m in $(VULN_MODULES); do \
		echo "== govulncheck $$m, $$(go env GOVERSION), database golang.org/x/vulndb@$(VULNDB_VERSION)"; \
		(cd $$m && $(GOVULNCHECK) -db file://$(VULNDB) ./...); \
	done
