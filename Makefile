# ChatCluster. `make run` starts the chat at http://localhost:8080; `make test` runs every test.
# Each part of the project adds its own targets in hack/mk/*.mk and appends to TEST_TARGETS.
SHELL := /bin/bash
.DEFAULT_GOAL := help
BIN := $(CURDIR)/bin
GO ?= go
export PATH := $(BIN):$(PATH)

TEST_TARGETS :=

include $(sort $(wildcard hack/mk/*.mk))

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | sort | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

.PHONY: test
test: $(TEST_TARGETS) ## run every test (Go with -race, web unit and browser tests, operator against a real API server, the whole platform; root)
