#!/usr/bin/env bash
# Core scaling of the engine's transmit loop over in-memory fakes, against
# the machine's own: BenchmarkTransmitWorkers and BenchmarkParallelControl
# (internal/engine/scaling_bench_test.go), each with 1 and 2 workers, run
# in turn ROUNDS times from one test binary, so that a change of the
# machine's speed falls on all four. Prints each case's ns/op per round, the
# medians, and the 2-worker speedups (workers=1 ns ÷ workers=2 ns).
#   bench/scaling.sh            ROUNDS=8 N=4000000
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-8}
n=${N:-4000000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/engine.test" ./internal/engine
for _ in $(seq "$rounds"); do
  (cd internal/engine && "$tmp/engine.test" -test.run '^$' -test.bench 'TransmitWorkers|ParallelControl' -test.benchtime "${n}x") |
    awk '/^Benchmark/ {print $1, $3}'
done >"$tmp/runs"
awk '
  { name = $1; sub(/-[0-9]+$/, "", name); v[name] = v[name] " " $2 }
  function median(s,   a, k, i, j, t) {
    k = split(s, a, " ")
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
  }
  END {
    for (c in v) { m[c] = median(v[c]); printf "%-40s ns/op:%s  median %.1f\n", c, v[c], m[c] }
    printf "transmit loop, 2 workers: %.2fx the packets/s of 1\n", m["BenchmarkTransmitWorkers/workers=1"] / m["BenchmarkTransmitWorkers/workers=2"]
    printf "control,       2 workers: %.2fx\n", m["BenchmarkParallelControl/workers=1"] / m["BenchmarkParallelControl/workers=2"]
  }' "$tmp/runs"
