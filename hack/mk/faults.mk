# The fault campaign (test/faults, build tag faults, so that a plain
# go test ./... leaves it out): two chatserver processes on one Redis,
# FerretDB and kfake, with the indexer and a fake Elasticsearch, and the
# embedded server alone, under a steady mixed load; each fault is injected
# round after round, and every round is checked against the history of what
# the load saw acknowledged. It needs root (network namespaces, a tmpfs).
# docs/reliability.md tells the method and holds the figures.
#   make faults                               the short form: a round or two of each fault, 5 s outages
#   make faults FAULTS_LONG=1                 the long form: 20 kills of each kind, 30-60 s outages
#   make faults FAULTS=redis-kill,chat-kill   those faults only (the test lists the names)
#   make faults FAULTS_REPS=5 FAULTS_OUTAGE=20s   other round counts and outage lengths
# The table is printed at the end and kept in $(FAULTS_REPORT).

FAULTS ?=
FAULTS_LONG ?=
FAULTS_REPS ?=
FAULTS_OUTAGE ?=
FAULTS_REPORT ?= $(CURDIR)/tmp/faults/report.md

# make test runs the short form.
TEST_TARGETS += faults

.PHONY: faults
faults: setup-redis ## @test the fault campaign, short form (FAULTS_LONG=1: long form; FAULTS=a,b: some faults); root
	@mkdir -p "$(dir $(FAULTS_REPORT))"; rm -f "$(FAULTS_REPORT)"; rc=0; \
	FAULTS="$(FAULTS)" FAULTS_LONG="$(FAULTS_LONG)" FAULTS_REPS="$(FAULTS_REPS)" FAULTS_OUTAGE="$(FAULTS_OUTAGE)" \
	FAULTS_REPORT="$(FAULTS_REPORT)" $(GO) test -tags faults -race -count=1 -timeout $(if $(FAULTS_LONG),4h,30m) ./test/faults/ || rc=$$?; \
	if [ -f "$(FAULTS_REPORT)" ]; then echo; cat "$(FAULTS_REPORT)"; fi; exit $$rc
