# Several chat-server instances on shared backends. docs/scale-out.md
# explains the Redis side and how to try it.
#   make multi-up      Redis, the MongoDB/Kafka/Elasticsearch stand-ins, two instances on :8081 and :8082 and the indexer
#   make multi-down    stop them all
#   make bench-multi   chatload against the two instances (docs/bench.md)
#   make test-multi    the multi-instance end-to-end tests (test/multi)
MULTI_DIR ?= $(CURDIR)/tmp/multi
MULTI_REDIS_PORT ?= 6390
MULTI_PORTS ?= 8081 8082
MULTI_MONGODB_ADDR ?= 127.0.0.1:27018
MULTI_KAFKA_PORT ?= 9093
MULTI_ES_PORT ?= 9201
MULTI_ADMIN_PASSWORD ?= chatadmin
BENCH_MULTI_FLAGS ?= -scenarios max,paced

TEST_TARGETS += test-multi

.PHONY: test-redis
test-redis: setup-redis ## @test the Redis backend's tests against a real redis-server
	$(GO) test -race -count=1 ./chatserver/redis/...

.PHONY: test-multi
test-multi: setup-redis ## @test two instances on one real Redis and one store: order, DMs, presence, a killed instance, a Redis restart
	$(GO) test -race -count=1 ./test/multi/...

$(BIN)/standins: $(shell find test/backends -name '*.go' 2>/dev/null) test/backends/go.mod
	cd test/backends && $(GO) build -o $(BIN)/standins ./cmd/standins

$(BIN)/standin-elasticsearch: $(shell find test/platform/standins -name '*.go' 2>/dev/null) test/platform/go.mod
	cd test/platform && $(GO) build -o $(BIN)/standin-elasticsearch ./standins/cmd/standin-elasticsearch

.PHONY: multi-up
multi-up: setup-redis build $(BIN)/standins $(BIN)/standin-elasticsearch ## @run start Redis, the MongoDB/Kafka/Elasticsearch stand-ins, two chat servers (:8081, :8082) and the indexer in the background
	@set -euo pipefail; mkdir -p "$(MULTI_DIR)"; cd "$(MULTI_DIR)"; \
	if [ -f redis.pid ] && kill -0 "$$(cat redis.pid)" 2>/dev/null; then echo "multi-up: already running (make multi-down first)"; exit 1; fi; \
	redis-server --bind 127.0.0.1 --port $(MULTI_REDIS_PORT) --save '' --appendonly no \
		--daemonize yes --pidfile "$(MULTI_DIR)/redis.pid" --logfile "$(MULTI_DIR)/redis.log" --dir "$(MULTI_DIR)"; \
	$(BIN)/standins -mongodb-addr $(MULTI_MONGODB_ADDR) -kafka-port $(MULTI_KAFKA_PORT) -data-dir "$(MULTI_DIR)/standins" \
		>standins.env 2>standins.log & echo $$! >standins.pid; \
	for i in $$(seq 100); do grep -q CHAT_KAFKA_BROKERS standins.env 2>/dev/null && break; sleep 0.1; done; \
	grep -q CHAT_KAFKA_BROKERS standins.env || { echo "multi-up: the stand-ins did not start:"; tail standins.log; exit 1; }; \
	$(BIN)/standin-elasticsearch -E discovery.type=single-node -E xpack.security.enabled=false -E http.host=127.0.0.1 \
		-E http.port=$(MULTI_ES_PORT) -E path.data="$(MULTI_DIR)/elasticsearch" >elasticsearch.log 2>&1 & echo $$! >elasticsearch.pid; \
	for i in $$(seq 100); do curl -fs http://127.0.0.1:$(MULTI_ES_PORT) >/dev/null && break; sleep 0.1; done; \
	curl -fs http://127.0.0.1:$(MULTI_ES_PORT) >/dev/null || { echo "multi-up: the Elasticsearch stand-in did not start:"; tail elasticsearch.log; exit 1; }; \
	echo CHAT_ELASTICSEARCH_URL=http://127.0.0.1:$(MULTI_ES_PORT) >>standins.env; \
	set -a; . ./standins.env; set +a; \
	export CHAT_REDIS_URL=redis://127.0.0.1:$(MULTI_REDIS_PORT)/0 CHAT_ADMINS=admin CHAT_ADMIN_PASSWORD=$(MULTI_ADMIN_PASSWORD) CHAT_RATE_LIMIT=0 $(BENCH_NO_CAPS); \
	for port in $(MULTI_PORTS); do \
		CHAT_ADDR=127.0.0.1:$$port CHAT_INSTANCE_ID=chat-$$port CHAT_DATA_DIR="$(MULTI_DIR)/data-$$port" \
			$(BIN)/chatserver >chat-$$port.log 2>&1 & echo $$! >chat-$$port.pid; \
	done; \
	if [ -n "$${CHAT_ELASTICSEARCH_URL:-}" ]; then \
		$(BIN)/chatserver index >indexer.log 2>&1 & echo $$! >indexer.pid; \
	else echo "multi-up: no CHAT_ELASTICSEARCH_URL: the indexer is not started (nothing to index into)"; fi; \
	for port in $(MULTI_PORTS); do \
		for i in $$(seq 100); do curl -fs http://127.0.0.1:$$port/readyz >/dev/null && break; sleep 0.1; done; \
		curl -fs http://127.0.0.1:$$port/readyz >/dev/null || { echo "multi-up: instance :$$port not ready:"; tail chat-$$port.log; exit 1; }; \
		echo "multi-up: http://127.0.0.1:$$port ready (log $(MULTI_DIR)/chat-$$port.log)"; \
	done; \
	echo "multi-up: Redis 127.0.0.1:$(MULTI_REDIS_PORT), $$(tr '\n' ' ' <standins.env); sign in as admin / $(MULTI_ADMIN_PASSWORD)"

.PHONY: multi-down
multi-down: ## @run stop what multi-up started
	@cd "$(MULTI_DIR)" 2>/dev/null || exit 0; \
	for f in chat-*.pid indexer.pid standins.pid elasticsearch.pid redis.pid; do \
		[ -f "$$f" ] || continue; pid=$$(cat "$$f"); \
		if kill -TERM "$$pid" 2>/dev/null; then \
			for i in $$(seq 100); do kill -0 "$$pid" 2>/dev/null || break; sleep 0.1; done; \
			echo "multi-down: stopped $${f%.pid} ($$pid)"; \
		fi; rm -f "$$f"; \
	done

.PHONY: bench-multi
bench-multi: chatload ## @bench chatload against two instances started by multi-up (started and stopped here if not running)
	@set -euo pipefail; started=; \
	if ! curl -fs http://127.0.0.1:$(word 1,$(MULTI_PORTS))/readyz >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory multi-up; started=1; fi; \
	trap '[ -z "$$started" ] || $(MAKE) --no-print-directory multi-down' EXIT; \
	ulimit -n 65536 2>/dev/null || ulimit -n "$$(ulimit -Hn)"; \
	servers=; pids=; for port in $(MULTI_PORTS); do \
		servers="$$servers$${servers:+,}http://127.0.0.1:$$port"; pids="$$pids$${pids:+,}$$(cat $(MULTI_DIR)/chat-$$port.pid)"; done; \
	$(BIN)/chatload -servers "$$servers" -pids "$$pids" -note "$(words $(MULTI_PORTS)) instances, Redis + MongoDB/Kafka stand-ins, CHAT_RATE_LIMIT=0" $(BENCH_MULTI_FLAGS)
