# ipipd: the two commands a new machine needs are `make demo` and `make test`;
# both install what they use (Debian packages, as root).

GO        ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
BIN       := bin/ipipd
# Each fuzz target runs for FUZZTIME executions in `make test`: a count,
# not a duration, because Go 1.26's fuzz coordinator can report its own
# -fuzztime deadline as a failure ("context deadline exceeded", no
# crasher: go.dev/issue/75804, fixed in Go 1.27). 200000 runs take 5-15 s
# a target here. FUZZTIME=60s still works for a longer local run.
FUZZTIME  ?= 200000x
# Packages with fuzz targets, and the targets.
FUZZ      := ./decap:FuzzDecap ./decap:FuzzSplitCoalesced ./encap:FuzzEncap ./internal/config:FuzzParse ./internal/rawsock:FuzzIngressIfindex ./internal/icmperr:FuzzParse ./lookup:FuzzTunnelLookup ./lookup:FuzzRouteLookup
BENCHTIME ?= 300ms
BENCHCOUNT ?= 10

.PHONY: all build deps demo test vet fuzz unit bench bench-micro bench-e2e clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/ipipd

# deps installs the system tools the demo and the end-to-end tests drive:
# ip (iproute2), ping (iputils-ping), iperf3 and tcpdump for the benchmarks.
deps:
	@bash scripts/deps.sh

demo: deps build
	./$(BIN) demo

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...

# unit runs every test, the end-to-end ones in namespaces included (they
# skip loudly without root, and fail instead when IPIPD_E2E_REQUIRED=1).
unit:
	$(GO) test -count=1 -timeout 15m ./...

fuzz:
	@for t in $(FUZZ); do pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($$pkg), -fuzztime $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

test: deps vet unit fuzz

# bench runs the micro-benchmarks, then the end-to-end harness (root: it
# makes two namespaces); see docs/performance.md.
bench: bench-micro bench-e2e

bench-micro:
	COUNT=$(BENCHCOUNT) BENCHTIME=$(BENCHTIME) GO=$(GO) bench/micro.sh

bench-e2e: deps
	$(GO) run ./bench/cmd/ipipbench $(IPIPBENCH_FLAGS)

clean:
	rm -rf bin
