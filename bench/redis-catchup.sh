#!/usr/bin/env bash
# Does `watch --state redis://…` catch up on a backlog fast enough?
#
# The target (issue 14): a backlog read from the start with the history in
# Redis at 200 MB/s or more. The baselines, measured in the same iterations
# on the same file: the same watcher with its history in memory (what
# `watch` without --state redis does) and scan of the file. Each figure is
# the best of the iterations; the ratio is Redis's time over memory's.
# "redis-server CPU" is what Redis spent per catch-up: the bound on the
# figure once Redis has a core of its own (on a 2-core machine it shares
# them with the watcher). It is also given per event the watcher sent
# Redis, with the commands Redis ran per event, scripts' own included
# (INFO commandstats); the benchmark's log lists them by command. "watcher
# CPU" is the same of the watcher's process (parsing, judging, its local
# store, building the commands, reading the replies): the other bound.
# "bound" is what these two CPU times allow: the busier side's time, were
# Redis and the watcher always working at once (batches are written to
# Redis before the replies of those before are read, so they can).
# bench/redis-alternate.sh compares builds in one run.
#
#   bench/redis-catchup.sh               # 64 MB backlog, 5 iterations
#   MB=130 COUNT=3 bench/redis-catchup.sh
#
# Needs redis-server on PATH (apt-get install redis-server): the benchmark
# starts its own on a free loopback port.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mb=${MB:-64}
count=${COUNT:-5}
[[ $mb =~ ^[1-9][0-9]*$ ]] || { echo "redis-catchup.sh: MB must be a positive integer, got '$mb'" >&2; exit 2; }
[[ $count =~ ^[1-9][0-9]*$ ]] || { echo "redis-catchup.sh: COUNT must be a positive integer, got '$count'" >&2; exit 2; }
command -v redis-server >/dev/null || { echo "redis-catchup.sh: redis-server is not on PATH (apt-get install redis-server)" >&2; exit 2; }
cd "$root"
echo "backlog: ${mb} MB generated log, one watcher, a real redis-server; baselines: the same watcher with memory state, and scan, same iterations (best of $count)"
GRACEGUARD_BENCH_MB=$mb go test ./pipeline -run '^$' -bench 'WatchCatchUpRedis$' -benchtime "${count}x" -count 1 |
	awk -v mb="$mb" '/^BenchmarkWatchCatchUpRedis/ {
		for (i = 1; i <= NF; i++) {
			if ($(i+1) == "redis-MB/s") r = $i; if ($(i+1) == "memory-MB/s") m = $i; if ($(i+1) == "scan-MB/s") s = $i
			if ($(i+1) == "redis-x") x = $i; if ($(i+1) == "redis-cpu-s") c = $i
			if ($(i+1) == "redis-µs/event") u = $i; if ($(i+1) == "redis-cmds/event") k = $i
			if ($(i+1) == "watcher-cpu-s") w = $i
		}
		printf "watch --state redis: %7.1f MB/s   memory state (baseline): %7.1f MB/s   ratio %.2fx   scan: %7.1f MB/s   target: >= 200 MB/s\n", r, m, x, s
		printf "redis-server CPU per catch-up: %.3f s (%.1f MB per CPU second; target: >= 200)   per event: %.1f µs, %.2f commands\n", c, mb / c, u, k
		printf "watcher CPU per catch-up: %.3f s (%.1f MB per CPU second)\n", w, mb / w
		printf "bound with the two sides overlapping perfectly (the busier one alone): %.1f MB/s\n", mb / (c > w ? c : w)
		found = 1
	}
	END { if (!found) { print "redis-catchup.sh: the benchmark printed no result" > "/dev/stderr"; exit 1 } }'
