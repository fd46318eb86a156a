# Web UI (web/): React + Vite app embedded into cmd/chatserver by web/embed.go.
WEB_DIR := web
WEB_STAMP := $(WEB_DIR)/node_modules/.package-lock.json
WEB_SOURCES := $(shell find $(WEB_DIR)/src $(WEB_DIR)/public -type f 2>/dev/null) \
	$(WEB_DIR)/index.html $(WEB_DIR)/vite.config.ts $(WEB_DIR)/tsconfig.json

TEST_TARGETS += test-web

# npm ci only when node_modules is missing or older than the lock file.
$(WEB_STAMP): $(WEB_DIR)/package.json $(WEB_DIR)/package-lock.json
	@hack/ci/setup-node.sh
	cd $(WEB_DIR) && npm ci --no-audit --no-fund
	@touch $@

$(WEB_DIR)/dist/index.html: $(WEB_STAMP) $(WEB_SOURCES)
	cd $(WEB_DIR) && npm run build

.PHONY: web-deps
web-deps: $(WEB_STAMP) ## @build install the web UI's npm packages (npm ci) when missing or stale

.PHONY: web-build
web-build: $(WEB_DIR)/dist/index.html ## @build build the web UI into web/dist (embedded by go build)

.PHONY: web-dev
web-dev: web-deps ## @run serve the UI at http://localhost:5173, proxying /api and /ws to :8080
	cd $(WEB_DIR) && npm run dev

.PHONY: test-web-unit
test-web-unit: web-deps ## @test web UI unit tests (Vitest) and type check
	cd $(WEB_DIR) && npm run typecheck && npm test

.PHONY: test-web-e2e
test-web-e2e: setup-web web-build ## @test browser tests: headless Chromium against bin/chatserver with the UI embedded
	cd $(WEB_DIR) && npm run test:e2e

.PHONY: test-web
test-web: test-web-unit test-web-e2e ## @test all web UI tests: Vitest, Go handler test, browser end-to-end
	$(GO) test ./web/

.PHONY: web-screenshots
web-screenshots: setup-web web-build ## @test run the browser tests and refresh docs/screenshots/ from them
	cd $(WEB_DIR) && UPDATE_SCREENSHOTS=1 npm run test:e2e
