# make fuzz: every Go fuzz target (func FuzzXxx in a _test.go file of the
# server's module) explored for FUZZTIME, one target after the other. Their
# seeds and the inputs kept under each package's testdata/fuzz/<Target> run
# as ordinary tests in test-go, so CI replays the corpora without fuzzing. An
# input that fails is written there by go test: fix the bug and keep the
# input as a regression test.
#   make fuzz FUZZTIME=5m                       each target for 5 minutes
#   make fuzz FUZZ_PKGS=./chatserver/wire       the targets of one package
FUZZTIME ?= 30s
FUZZ_PKGS ?= $(sort $(patsubst %/,./%,$(dir $(shell grep -rl --include='*_test.go' '^func Fuzz' chatserver cmd 2>/dev/null))))

.PHONY: fuzz
fuzz: ## @test run every fuzz target for FUZZTIME each (default 30s), one after the other
	@set -uo pipefail; failed=; \
	for pkg in $(FUZZ_PKGS); do \
		for target in $$($(GO) test -list '^Fuzz' "$$pkg" | grep '^Fuzz'); do \
			echo "== fuzz $$pkg $$target for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) "$$pkg" || failed="$$failed $$pkg:$$target"; \
		done; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: failing targets:$$failed"; exit 1; fi
