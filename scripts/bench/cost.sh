#!/usr/bin/env bash
# Measures warroom's ingest cost per alert in-process, which stays comparable on a busy
# machine where alerts/s does not: process CPU time per alert (getrusage), heap
# allocations per alert, WAL bytes per alert and alerts per commit, for single-alert and
# 100-alert requests, with 10 and with 10,000 incidents open (see docs/performance.md,
# "Cost per alert").
#
#   scripts/bench/cost.sh                       # 6 runs of each, ~10 minutes
#   COUNT=10 BENCHTIME=5000x scripts/bench/cost.sh
#   BENCH='ServerIngest//commit' scripts/bench/cost.sh   # the lockstep cases only
#
# BenchmarkServerIngest (triage) decodes, correlates and commits; BenchmarkIngestHandler
# (api) adds the HTTP handler (routing, token, JSON answer, metrics), without sockets.
# With benchstat on PATH (go install golang.org/x/perf/cmd/benchstat@latest) it prints
# the summary; the raw results are in $OUT.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/../.."
COUNT=${COUNT:-6}
BENCHTIME=${BENCHTIME:-3000x}
BENCH=${BENCH:-ServerIngest|IngestHandler}
OUT=${OUT:-$(mktemp -d /tmp/warroom-cost.XXXXXX)}
command -v go >/dev/null || { echo "go is missing (Go 1.26)" >&2; exit 2; }
for pkg in triage api; do
	go test -c -o "$OUT/$pkg.test" "./$pkg/"
done
for pkg in triage api; do
	(cd "$OUT" && "./$pkg.test" -test.run '^$' -test.bench "$BENCH" -test.benchtime "$BENCHTIME" \
		-test.count "$COUNT") | tee -a "$OUT/cost.txt"
done
if command -v benchstat >/dev/null; then
	benchstat "$OUT/cost.txt"
fi
echo "results in $OUT/cost.txt" >&2
