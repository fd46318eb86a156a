# make bench-peers: the chat server beside its peers (Centrifugo v6 and
# Socket.IO 4), under the same load generator on the same machine in the same
# run, each run on a freshly started server, the systems taking turns to go
# first; the summary is a table of ratios, which hold where absolute figures
# on a shared machine do not. hack/bench/peers.sh runs it; docs/bench.md tells how to read it.
#   make bench-peers BENCH_PEERS_ROUNDS=3
#   make bench-peers BENCH_PEERS_SCENARIOS='max pair' BENCH_PEERS_FLAGS='-duration 5s'
BENCH_PEERS_ROUNDS ?= 2
# In this order; idle50k needs ulimit -n above 51,024 (skipped otherwise).
BENCH_PEERS_SCENARIOS ?= max paced idle5k idle50k pair
BENCH_PEERS_SYSTEMS ?= chatcluster centrifugo socketio
BENCH_PEERS_FLAGS ?=
# As make bench runs the server: the chat server's default, every send
# fsynced before its ack.
BENCH_PEERS_FSYNC ?= true
# Non-empty: keep the runs' logs and JSON lines (the directory is printed).
BENCH_PEERS_KEEP ?=

.PHONY: bench-peers
bench-peers: chatload peers-deps centrifugo setup-redis ## @bench the chat server beside Centrifugo and Socket.IO under the same load, alternating rounds: a table of ratios and targets
	$(GO) build -o $(BIN)/chatserver ./cmd/chatserver
	$(GO) build -o $(BIN)/benchpair ./hack/bench/pair
	$(GO) build -o $(BIN)/benchratios ./hack/bench/ratios
	@BIN='$(BIN)' CENTRIFUGO='$(CENTRIFUGO)' CENTRIFUGO_VERSION='$(CENTRIFUGO_VERSION)' CHAT_ENV='$(BENCH_NO_CAPS) CHAT_RATE_LIMIT=0 CHAT_PPROF=true CHAT_FSYNC=$(BENCH_PEERS_FSYNC)' \
		BENCH_PEERS_ROUNDS='$(BENCH_PEERS_ROUNDS)' BENCH_PEERS_SCENARIOS='$(BENCH_PEERS_SCENARIOS)' \
		BENCH_PEERS_SYSTEMS='$(BENCH_PEERS_SYSTEMS)' BENCH_PEERS_FLAGS='$(BENCH_PEERS_FLAGS)' BENCH_PEERS_KEEP='$(BENCH_PEERS_KEEP)' \
		hack/bench/peers.sh
