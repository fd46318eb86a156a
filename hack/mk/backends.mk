# The data backends: MongoDB (users, messages), the Kafka activity
# log with its spool, Elasticsearch and the indexer. Their tests against the
# stand-ins (FerretDB, kfake, a fake Elasticsearch) live in the separate Go
# module test/backends, so that the server's module never requires them; the
# recorded Elasticsearch tests (TestRecordedES8_*) run with test-go.
# docs/backends.md tells what each test runs against. -mod=mod lets that module
# pick up requirements the server's module gained since its go.sum was tidied.
#   make test-backends                                        the stand-in tests, race detector on
#   CHAT_TEST_MONGODB_URI=mongodb://host/ make test-backends  the Mongo tests against a real MongoDB

TEST_TARGETS += test-backends

.PHONY: test-backends
test-backends: setup-redis ## @test MongoDB, Kafka spool, indexer and end-to-end tests against FerretDB, kfake and a fake Elasticsearch
	@out=$$(cd test/backends && gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	cd test/backends && export GOFLAGS="$$GOFLAGS -mod=mod" && $(GO) vet ./... && $(GO) test -race -count=1 ./...
