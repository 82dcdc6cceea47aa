# warroom: build, test, run, bench. The README's commands are `make run` and `make test`.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)

.PHONY: build test test-deps run bench fuzz vet acceptance

build:
	CGO_ENABLED=1 $(GO) build -ldflags "$(LDFLAGS)" -o bin/warroom ./cmd/warroom

# Every test, with the race detector off (cgo SQLite under -race is slow on 2 cores).
test: test-deps
	CGO_ENABLED=1 $(GO) test -count=1 -timeout 20m ./...

run:
	CGO_ENABLED=1 $(GO) run ./cmd/warroom serve --config config.example.yaml

vet:
	$(GO) vet ./...

bench:
	CGO_ENABLED=1 $(GO) test -run '^$$' -bench . -benchmem ./store/ ./triage/ ./ingest/
	bash scripts/bench/run.sh

# Runs each fuzz target for FUZZTIME (default 20s).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$(go list -f "{{.Dir}}" ./...); do \
	  [ -d $$pkg ] || continue; \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep ^Fuzz); do \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $$pkg || exit 1; \
	  done; \
	done

acceptance:
	for s in ../shared/acceptance/spine-*.sh; do bash $$s || exit 1; done

test-deps:
	@bash scripts/test-deps.sh
