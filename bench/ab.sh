#!/usr/bin/env bash
# A/B micro-benchmarks of one package between a git revision (A) and the
# work tree, or a second revision (B), interleaved: the two test binaries run in turn, one count
# each, COUNT times, pinned to one CPU, so a drift of the machine's speed
# falls on both. benchstat compares them (medians, spread, p-value).
#   bench/ab.sh REV PKG BENCH_REGEXP [REV_B]   e.g. bench/ab.sh HEAD~5 ./lookup RouteLookup
#   COUNT=10 BENCHTIME=300ms
set -euo pipefail
cd "$(dirname "$0")/.."
rev=$1 pkg=$2 bench=$3 revb=${4:-}
count=${COUNT:-10}
benchtime=${BENCHTIME:-300ms}
go=${GO:-go}
benchstat=$($go env GOPATH)/bin/benchstat
[ -x "$benchstat" ] || $go install golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
pin=""
command -v taskset >/dev/null && [ "$(nproc)" -gt 1 ] && pin="taskset -c 1"
tmp=$(mktemp -d)
trap 'for w in a b; do git worktree remove --force "$tmp/$w" >/dev/null 2>&1 || true; done; rm -rf "$tmp"' EXIT
git worktree add -q --detach "$tmp/a" "$rev"
(cd "$tmp/a" && $go test -c -o "$tmp/a.test" "$pkg")
if [ -n "$revb" ]; then
  git worktree add -q --detach "$tmp/b" "$revb"
  (cd "$tmp/b" && $go test -c -o "$tmp/b.test" "$pkg")
else
  $go test -c -o "$tmp/b.test" "$pkg"
fi
for i in $(seq "$count"); do
  for side in a b; do
    (cd "$pkg" && $pin "$tmp/$side.test" -test.run '^$' -test.bench "$bench" -test.benchmem \
       -test.benchtime "$benchtime" -test.count 1) | grep -E '^(Benchmark|goos|goarch|pkg|cpu)' >> "$tmp/$side.txt"
  done
done
echo "# $(date -u +%F) $(uname -m), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), pinned: ${pin:-no}"
echo "# command: COUNT=$count BENCHTIME=$benchtime bench/ab.sh $rev $pkg '$bench'  (A = $(git rev-parse --short "$rev"), B = ${revb:+$(git rev-parse --short "$revb")}${revb:-work tree})"
"$benchstat" A="$tmp/a.txt" B="$tmp/b.txt"
