# Setup: what the tests need beyond Go and Node.js, installed by the targets
# that need it (hack/ci/setup-*.sh). Each is idempotent and quick when all is
# there: no apt-get, no build. Debian packages need root, or sudo without a
# password; otherwise a script stops, naming what is missing and the command
# to run as root.
#   make setup           everything make test needs, before any test runs (root)
#   make test-redis      installs redis-server first, and so on for each part

.PHONY: setup
setup: setup-platform setup-debian setup-node web-deps setup-web setup-redis setup-operator ## @setup everything make test needs: root, Debian packages, npm packages, the Kubernetes tools

.PHONY: setup-debian
setup-debian: ## @setup every Debian package the tests use, in one apt-get (root or sudo)
	@hack/ci/setup-debian.sh

.PHONY: setup-node
setup-node: ## @setup check for Node.js 20.19 or later with npm (the web UI's build)
	@hack/ci/setup-node.sh

.PHONY: setup-redis
setup-redis: ## @setup Debian's redis-server (the Redis and multi-instance tests)
	@hack/ci/setup-redis.sh

.PHONY: setup-web
setup-web: ## @setup Debian's Chromium and fonts (the browser tests)
	@hack/ci/setup-web.sh

.PHONY: setup-operator
setup-operator: ## @setup openssl, python3 and the Kubernetes tools in bin/ (the operator's tests)
	@BIN=$(BIN) GO=$(GO) hack/ci/setup-operator.sh

.PHONY: setup-platform
setup-platform: ## @setup root and the Debian packages of the platform test
	@hack/ci/setup-platform.sh
