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
