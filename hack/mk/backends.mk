# The data backends: MongoDB (users, messages), the Kafka activity
# log with its spool, Elasticsearch and the indexer. Each package's tests are
# in its folder and run with test-go: against FerretDB and kfake, which
# chatserver/chattest/standin runs as a process built from the separate Go
# module test/backends (so that the server's module never requires them),
# and a fake Elasticsearch (chatserver/chattest/fakees); the recorded
# Elasticsearch tests (TestRecordedES8_*) replay exchanges written by hand.
# test/backends keeps the end-to-end tests of chatserver processes on those
# stand-ins. docs/backends.md tells what each test runs against. -mod=mod
# lets that module pick up requirements the server's module gained since its
# go.sum was tidied.
#   make test-backends                  the end-to-end tests, race detector on
#   make bench-search-index             a send's ack to searchable on another instance (docs/bench.md)
#   make bench-hotroom                  sends/s and ack latency into one room from 1 to 32 senders over two
#                                       instances, on FerretDB over PostgreSQL (docs/bench.md);
#                                       HOTROOM_SERVERS=old=/abs/path,new=/abs/path HOTROOM_ROUNDS=3 compares
#                                       chatserver binaries, taking turns (test/backends/hotroom_test.go)
#   make test-data-backends             the MongoDB, Kafka and indexer packages' tests alone
#   CHAT_TEST_MONGODB_URI=mongodb://host/ make test-data-backends test-backends
#                                       the same against a real MongoDB

TEST_TARGETS += test-backends

DATA_BACKEND_PKGS = ./chatserver/mongo/... ./chatserver/kafka/... ./chatserver/indexer/...

.PHONY: test-data-backends
test-data-backends: ## @test the MongoDB store, Kafka activity log and indexer tests alone (test-go runs them too)
	$(GO) test -race -count=1 $(DATA_BACKEND_PKGS)

.PHONY: test-backends
test-backends: setup-redis ## @test end-to-end tests of chatserver processes on Redis, FerretDB, kfake and Elasticsearch stand-ins
	@out=$$(cd test/backends && gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	cd test/backends && export GOFLAGS="$$GOFLAGS -mod=mod" && $(GO) vet ./... && $(GO) test -race -count=1 ./...

.PHONY: bench-search-index
bench-search-index: setup-redis ## @bench time from a send's ack to searchable on another instance, through Kafka, the indexer and the Elasticsearch stand-in
	@set -o pipefail; cd test/backends && export GOFLAGS="$$GOFLAGS -mod=mod" && \
		$(GO) test -count=1 -run 'TestMessageSearch_' -v . | grep -E 'ack to searchable|^(--- |ok|FAIL)'

HOTROOM_SENDERS ?= 1,2,8,32
HOTROOM_DURATION ?= 10s
HOTROOM_ROUNDS ?= 1
HOTROOM_SERVERS ?=
POSTGRES_BIN ?= /usr/lib/postgresql/15/bin

.PHONY: bench-hotroom
bench-hotroom: setup-redis $(BIN)/standins ## @bench sends/s and ack latency into one room from 1 to 32 senders over two instances, on FerretDB over PostgreSQL
	@POSTGRES_BIN=$(POSTGRES_BIN) hack/ci/setup-postgres.sh
	@set -euo pipefail; dir=$$(mktemp -d); \
	$(BIN)/standins -kafka=false -mongodb-addr 127.0.0.1:0 -ferretdb-postgresql $(POSTGRES_BIN) -data-dir "$$dir" \
		>"$$dir/env" 2>"$$dir/log" & pid=$$!; \
	trap 'kill -TERM $$pid 2>/dev/null; wait $$pid || true; rm -rf "$$dir"' EXIT; \
	for i in $$(seq 600); do grep -q CHAT_MONGODB_URI "$$dir/env" && break; kill -0 $$pid 2>/dev/null || break; sleep 0.1; done; \
	grep -q CHAT_MONGODB_URI "$$dir/env" || { echo "bench-hotroom: FerretDB on PostgreSQL did not start:"; cat "$$dir/log"; exit 1; }; \
	export CHAT_TEST_MONGODB_URI=$$(sed -n 's/^CHAT_MONGODB_URI=//p' "$$dir/env") HOTROOM_SENDERS=$(HOTROOM_SENDERS) \
		HOTROOM_DURATION=$(HOTROOM_DURATION) HOTROOM_ROUNDS=$(HOTROOM_ROUNDS) HOTROOM_SERVERS=$(HOTROOM_SERVERS); \
	cd test/backends && export GOFLAGS="$${GOFLAGS:-} -mod=mod" && \
		$(GO) test -count=1 -timeout 60m -run 'TestHotRoom_' -v . | grep -vE '^=== (RUN|PAUSE|CONT)'
