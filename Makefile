# ChatCluster. `make run` starts the chat at http://localhost:8080; `make test` runs every test.
# Each part of the project adds its own targets in hack/mk/*.mk and appends to TEST_TARGETS;
# hack/mk/setup.mk installs what the tests need, as prerequisites of the targets that need it.
SHELL := /bin/bash
.DEFAULT_GOAL := help
BIN := $(CURDIR)/bin
GO ?= go
# Every target builds and tests with this Go toolchain, which the go command
# fetches through the module proxy when it is not installed: it fixes
# standard-library vulnerabilities that go1.26 releases have (make vuln).
export GOTOOLCHAIN := go1.27.3
export PATH := $(BIN):$(PATH)

TEST_TARGETS :=

# make help lists every target whose line ends in "## @GROUP description", by
# group: those of HELP_GROUPS in that order, then any other group, then the
# targets without one under "other".
HELP_GROUPS := run test setup bench build operator kind

include $(sort $(wildcard hack/mk/*.mk))

.PHONY: help
help: ## @other list the targets by purpose
	@awk -v order='$(HELP_GROUPS) other' ' \
		/^[a-zA-Z0-9_.-]+:.*## / { \
			name = substr($$0, 1, index($$0, ":") - 1); text = substr($$0, index($$0, "## ") + 3); group = "other"; \
			if (text ~ /^@[a-z]+ /) { group = substr(text, 2, index(text, " ") - 2); text = substr(text, index(text, " ") + 1) } \
			if (!(group in lines)) seen[++groups] = group; \
			lines[group] = lines[group] sprintf("  %-22s %s\n", name, text) \
		} \
		END { \
			print "make TARGET, where `make run` runs the chat and `make test` runs every test:"; \
			n = split(order, want, " "); for (i = 1; i <= groups; i++) want[++n] = seen[i]; \
			for (i = 1; i <= n; i++) if (want[i] in lines && !(want[i] in shown)) { shown[want[i]] = 1; printf "\n%s\n%s", want[i], lines[want[i]] } \
		}' $(MAKEFILE_LIST)

.PHONY: test
test: setup $(TEST_TARGETS) ## @test every test (Go with -race, web UI in Chromium, operator, the whole platform), after make setup; root
