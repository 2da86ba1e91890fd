#!/usr/bin/env bash
# Does `watch --state redis://…` catch up on a backlog fast enough?
#
# The target (issue 14): a backlog read from the start with the history in
# Redis at 200 MB/s or more. The baseline, measured in the same run on the
# same file: scan of it (memory state, both cores), printed beside.
#
#   bench/redis-catchup.sh               # 64 MB backlog, 3 runs
#   MB=256 COUNT=5 bench/redis-catchup.sh
#
# Needs redis-server on PATH (apt-get install redis-server): the benchmark
# starts its own on a free loopback port.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mb=${MB:-64}
count=${COUNT:-3}
cd "$root"
echo "backlog: ${mb} MB generated log, one watcher, a real redis-server; baseline: scan of the same file"
GRACEGUARD_BENCH_MB=$mb go test ./pipeline -run '^$' -bench 'WatchCatchUpRedis$' -benchtime 1x -count "$count" 2>/dev/null |
	awk '/^BenchmarkWatchCatchUpRedis/ {
		for (i = 1; i <= NF; i++) { if ($(i+1) == "MB/s") w = $i; if ($(i+1) == "scan-MB/s") s = $i }
		printf "watch --state redis: %8.1f MB/s   scan (baseline): %8.1f MB/s   target: >= 200 MB/s\n", w, s
	}'
