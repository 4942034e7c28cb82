#!/usr/bin/env bash
# Micro-benchmarks of the datapath: encap, decap with tunnel lookup, tunnel
# and route lookup, and the engine loops over in-memory fakes. Each test
# binary is pinned to one CPU (taskset) and run COUNT times; benchstat
# reports medians with their spread. Results: bench/results/micro-DATE.txt.
#   COUNT=10 BENCHTIME=300ms bench/micro.sh
set -euo pipefail
cd "$(dirname "$0")/.."
count=${COUNT:-10}
benchtime=${BENCHTIME:-300ms}
go=${GO:-go}
benchstat=$($go env GOPATH)/bin/benchstat
[ -x "$benchstat" ] || $go install golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
pin=""
command -v taskset >/dev/null && [ "$(nproc)" -gt 1 ] && pin="taskset -c 1"
out=bench/results/micro-$(date -u +%Y%m%d-%H%M%S).txt
raw=$(mktemp)
tmp=$(mktemp -d)
trap 'rm -rf "$raw" "$tmp"' EXIT
for pkg in encap decap lookup internal/engine; do
  $go test -c -o "$tmp/t" "./$pkg"
  (cd "$pkg" && $pin "$tmp/t" -test.run '^$' -test.bench . -test.benchmem \
     -test.benchtime "$benchtime" -test.count "$count") >> "$raw"
done
# The kernel's per-packet cost under the datapath: raw-socket send and
# receive over a veth, beside a UDP flow with segmentation offloads. These
# make namespaces, so they need root; without it they are left out, loudly.
if [ "$(id -u)" = 0 ]; then
  $go test -c -o "$tmp/t" ./internal/rawsock
  (cd internal/rawsock && $pin "$tmp/t" -test.run '^$' -test.bench 'WriteRead|UDPSegmentationBaseline' \
     -test.benchmem -test.benchtime "$benchtime" -test.count "$count") >> "$raw"
  $go test -c -o "$tmp/t" ./internal/packetsock
  (cd internal/packetsock && $pin "$tmp/t" -test.run '^$' -test.bench 'NeighbourLookup' \
     -test.benchmem -test.benchtime "$benchtime" -test.count "$count") >> "$raw"
else
  echo "micro.sh: not root: the socket benchmarks (internal/rawsock, internal/packetsock) are left out" >&2
fi
{
  echo "# $(date -u +%F) $(uname -m), $(nproc) CPUs, $($go version | cut -d' ' -f3), pinned: ${pin:-no}"
  echo "# command: COUNT=$count BENCHTIME=$benchtime bench/micro.sh"
  "$benchstat" "$raw"
} > "$out"
cat "$out"
echo "written to $out"
