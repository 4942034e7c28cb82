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
# Packages with fuzz targets, and the targets; a third field is the target's
# own count, for one whose runs are slow (FuzzLoaderMatchesParse parses each
# input several times over: 20 000 runs take about 6 s here).
FUZZ      := ./decap:FuzzDecap ./decap:FuzzSplitCoalesced ./encap:FuzzEncap ./encap:FuzzEncapGSO ./internal/config:FuzzParse ./internal/config:FuzzLoaderMatchesParse:20000x ./internal/nldump:FuzzDecoders ./internal/nldump:FuzzAttributes ./internal/rawsock:FuzzIngressIfindex ./internal/icmperr:FuzzParse ./lookup:FuzzTunnelLookup ./lookup:FuzzRouteLookup
BENCHTIME ?= 300ms
BENCHCOUNT ?= 10
# The commit goes into the binary (`ipipd version`, ipipd_build_info)
# when git can read this checkout; BUILDVCS=false leaves it out.
BUILDVCS  ?= $(shell git rev-parse --git-dir >/dev/null 2>&1 && echo auto || echo false)

# Where `make install` puts things; DESTDIR stages them (for a package).
# systemd reads the administrator's units from /usr/local/lib/systemd/system
# and packages' from /usr/lib/systemd/system (systemd.unit(5)), so
# $(PREFIX)/lib/systemd/system is read for PREFIX=/usr/local, the default,
# and for PREFIX=/usr; /lib/systemd/system is the distribution's. Any other
# PREFIX needs UNITDIR=/etc/systemd/system.
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
UNITDIR   ?= $(PREFIX)/lib/systemd/system
CONFDIR   ?= /etc/ipipd
UNITS     := ipipd.service ipipd@.service

.PHONY: all build deps demo test vet fuzz unit bench bench-micro bench-e2e clean install uninstall

all: build

build:
	$(GO) build -buildvcs=$(BUILDVCS) -o $(BIN) ./cmd/ipipd

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
	@for t in $(FUZZ); do pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; count=$${rest#*:}; \
		[ "$$count" = "$$rest" ] && count=$(FUZZTIME); \
		echo "fuzz $$name ($$pkg), -fuzztime $$count"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $$count $$pkg || exit 1; \
	done

test: deps vet unit fuzz

# bench runs the micro-benchmarks, then the end-to-end harness (root: it
# makes two namespaces); see docs/performance.md.
bench: bench-micro bench-e2e

bench-micro:
	COUNT=$(BENCHCOUNT) BENCHTIME=$(BENCHTIME) GO=$(GO) bench/micro.sh

bench-e2e: deps
	$(GO) run ./bench/cmd/ipipbench $(IPIPBENCH_FLAGS)

# install puts the binary in BINDIR, the units in UNITDIR with ExecStart=
# naming that binary and CONFDIR, iproute2's name for ipipd's route
# protocol (ip route shows "proto ipipd"), and the example node (contrib/ipipd.yaml)
# as CONFDIR/ipipd.yaml unless a file is there already. Nothing is
# enabled or started: edit the file first.
install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(CONFDIR)
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/ipipd
	@for u in $(UNITS); do \
		echo "install contrib/$$u -> $(DESTDIR)$(UNITDIR)/$$u"; \
		sed -e 's|/usr/local/bin/ipipd|$(BINDIR)/ipipd|g' -e 's|/etc/ipipd/|$(CONFDIR)/|g' \
			contrib/$$u > $(DESTDIR)$(UNITDIR)/$$u.tmp && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.tmp && \
		mv $(DESTDIR)$(UNITDIR)/$$u.tmp $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	@if [ -e $(DESTDIR)$(CONFDIR)/ipipd.yaml ]; then \
		echo "keeping $(DESTDIR)$(CONFDIR)/ipipd.yaml"; \
	else \
		install -m 0644 contrib/ipipd.yaml $(DESTDIR)$(CONFDIR)/ipipd.yaml && \
		echo "install contrib/ipipd.yaml -> $(DESTDIR)$(CONFDIR)/ipipd.yaml (an example: edit it)"; \
	fi
	install -d $(DESTDIR)/etc/iproute2/rt_protos.d
	install -m 0644 contrib/rt_protos.d/ipipd.conf $(DESTDIR)/etc/iproute2/rt_protos.d/ipipd.conf
	@for u in $(UNITS); do [ ! -e $(DESTDIR)/etc/systemd/system/$$u ] || \
		echo "note: $(DESTDIR)/etc/systemd/system/$$u overrides the unit just installed; remove it to use this one"; \
	done
	@echo "next: edit $(CONFDIR)/ipipd.yaml, then systemctl daemon-reload && systemctl enable --now ipipd"

# uninstall removes what install put, except a CONFDIR/ipipd.yaml that is
# no longer the example: that is the operator's node, kept and named.
# Stop the service first (systemctl disable --now ipipd).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/ipipd $(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS)) $(DESTDIR)/etc/iproute2/rt_protos.d/ipipd.conf
	@cfg=$(DESTDIR)$(CONFDIR)/ipipd.yaml; \
	if [ -f $$cfg ] && cmp -s contrib/ipipd.yaml $$cfg; then \
		rm -f $$cfg && echo "removed $$cfg (the unchanged example)"; \
	elif [ -e $$cfg ]; then \
		echo "kept $$cfg: it is not the example any more"; \
	fi; \
	rmdir $(DESTDIR)$(CONFDIR) 2>/dev/null || true

clean:
	rm -rf bin
