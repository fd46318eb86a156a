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
