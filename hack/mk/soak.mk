# The soak (test/faults, TestSoak): the fault campaign's mixed load on its
# two-instance system (two chatserver processes on one Redis, FerretDB and
# kfake, with the indexer and a fake Elasticsearch) for DURATION with no
# fault. Every minute it prints the goroutines, open files and RSS of each
# chatserver process (from its /metrics); it fails when they grow (the mean
# of the last third of the samples after a warm-up minute beyond that of the
# first third and a margin), when one of those processes logs a warning or
# an error, or when the campaign's checker finds an acknowledged message
# lost, duplicated, out of order or not indexed exactly once.
#   make soak                  half an hour
#   make soak DURATION=3m      a short one (at least 2m)
# The tables are printed at the end and kept in $(SOAK_REPORT). The run is
# bounded by DURATION and 20 minutes.

DURATION ?= 30m
SOAK_REPORT ?= $(CURDIR)/tmp/faults/soak.md

.PHONY: soak
soak: setup-redis ## @test the fault campaign's load for DURATION (default 30m) with no fault: fails on growth, logged warnings or a broken history
	@mkdir -p "$(dir $(SOAK_REPORT))"; rm -f "$(SOAK_REPORT)"; rc=0; \
	SOAK_DURATION="$(DURATION)" SOAK_REPORT="$(SOAK_REPORT)" \
	$(GO) test -tags faults -race -count=1 -v -run '^TestSoak$$' -timeout 0 ./test/faults/ || rc=$$?; \
	if [ -f "$(SOAK_REPORT)" ]; then echo; cat "$(SOAK_REPORT)"; fi; exit $$rc
