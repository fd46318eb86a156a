# Peers: other chat systems that cmd/chatload measures beside the chat server.

# --- The Socket.IO 4 peer (hack/peers/socketio): its npm packages -------------
# The relay itself is hack/peers/socketio/server.js; chatload speaks to it
# with -protocol socketio (docs/bench.md).
SIO_DIR := hack/peers/socketio
SIO_STAMP := $(SIO_DIR)/node_modules/.package-lock.json

# npm ci only when node_modules is missing or older than the lock file.
$(SIO_STAMP): $(SIO_DIR)/package.json $(SIO_DIR)/package-lock.json
	@hack/ci/setup-node.sh
	cd $(SIO_DIR) && npm ci --no-audit --no-fund
	@touch $@

.PHONY: peers-deps
peers-deps: $(SIO_STAMP) ## @bench install the Socket.IO peer's npm packages (npm ci) when missing or stale
# --- end of the Socket.IO peer ------------------------------------------------

# --- The Centrifugo v6 peer (hack/peers/centrifugo) --------------------------
# Centrifugo, a real-time messaging server in Go, is built from the Go module
# proxy into bin/ once, and again only when the pin or the toolchain changes,
# as golangci-lint is. chatload speaks its JSON protocol with
# -protocol centrifugo; hack/peers/centrifugo/config.sh writes its
# configuration (docs/bench.md).
# The pin is in hack/peers/centrifugo/VERSION, which chatload's test reads too.
CENTRIFUGO_VERSION ?= $(shell cat hack/peers/centrifugo/VERSION)
CENTRIFUGO := $(BIN)/centrifugo-$(CENTRIFUGO_VERSION)-$(GOTOOLCHAIN)

$(CENTRIFUGO):
	@mkdir -p $(BIN)/.centrifugo
	GOBIN=$(BIN)/.centrifugo $(GO) install github.com/centrifugal/centrifugo/v6@$(CENTRIFUGO_VERSION)
	mv $(BIN)/.centrifugo/centrifugo $@

.PHONY: centrifugo
centrifugo: $(CENTRIFUGO) ## @bench build the Centrifugo peer into bin/ (pinned; once)
# --- end of the Centrifugo peer -----------------------------------------------
