# make bench: the load generator (cmd/chatload) against one fresh chat server in
# embedded mode on a free loopback port. docs/bench.md tells what each scenario
# measures and how to read the table.
#   make bench BENCH_FLAGS='-scenarios max -duration 5s'   one scenario, shorter
#   make bench BENCH_RATE_LIMIT=20                         keep the server's rate limit
# The search scenario's million messages are seeded into the data directory
# before the server starts (chatload -seed-search; nothing when -scenarios
# leaves search out). The durable scenario reads the store's WAL and times
# fdatasync in the data directory (-fsync-dir), on a server that syncs
# before it acknowledges (CHAT_FSYNC=true, the default, set against the
# environment).
# Other targets (make bench-multi) reuse $(BIN)/chatload with -servers a,b -pids p,q.
BENCH_FLAGS ?=
# search last and durable only here: they need the data directory, seeded
# for search.
BENCH_SCENARIOS := -scenarios idle,durable,max,paced,rooms,search
BENCH_RATE_LIMIT ?= 0
# The load generator opens thousands of sockets for a few users from one
# address: the per-address and per-user caps of the front door are off.
BENCH_NO_CAPS := CHAT_MAX_CONNECTIONS_PER_ADDRESS=0 CHAT_MAX_UNAUTHENTICATED_PER_ADDRESS=0 \
	CHAT_MAX_SOCKETS_PER_USER=0 CHAT_MAX_SOCKETS_PER_ADDRESS=0 CHAT_SIGNUPS_PER_ADDRESS=0 CHAT_SIGNIN_ADDRESS_FAILURES=0

.PHONY: chatload
chatload: ## @bench build the load generator into bin/chatload
	$(GO) build -o $(BIN)/chatload ./cmd/chatload

.PHONY: bench
bench: chatload ## @bench start a chat server (embedded mode, rate limit off) and print fan-out, idle-connection, room-list and search figures
	$(GO) build -o $(BIN)/chatserver ./cmd/chatserver
	@set -euo pipefail; \
	ulimit -n 65536 2>/dev/null || ulimit -n "$$(ulimit -Hn)"; \
	tmp="$$(mktemp -d)"; port="$$($(BIN)/chatload -free-port)"; \
	$(BIN)/chatload -seed-search "$$tmp/data" $(BENCH_SCENARIOS) $(BENCH_FLAGS) || { rm -rf "$$tmp"; exit 2; }; \
	CHAT_ADDR="127.0.0.1:$$port" CHAT_DATA_DIR="$$tmp/data" CHAT_RATE_LIMIT="$(BENCH_RATE_LIMIT)" CHAT_FSYNC=true CHAT_PPROF=true $(BENCH_NO_CAPS) \
		$(BIN)/chatserver >"$$tmp/server.log" 2>&1 & pid=$$!; \
	trap 'kill -TERM $$pid 2>/dev/null; wait $$pid 2>/dev/null; rm -rf "$$tmp"' EXIT; \
	echo "bench: chatserver pid $$pid on 127.0.0.1:$$port, data in $$tmp/data, CHAT_RATE_LIMIT=$(BENCH_RATE_LIMIT)"; \
	$(BIN)/chatload -servers "http://127.0.0.1:$$port" -pids "$$pid" -fsync-dir "$$tmp/data" \
		-note "embedded mode, CHAT_RATE_LIMIT=$(BENCH_RATE_LIMIT)$(if $(filter 0,$(BENCH_RATE_LIMIT)), (rate limit off),)" \
		$(BENCH_SCENARIOS) $(BENCH_FLAGS) || { rc=$$?; echo "bench: chatload exited $$rc; the server's log ends:"; tail -n 20 "$$tmp/server.log"; exit $$rc; }
