#!/usr/bin/env bash
# Does `watch` catch up on a backlog as fast as `scan` reads the same file?
#
# The target (issue 14): a backlog read from the start by watch (follower
# and watcher, memory state) in at most 1.5 times the wall time of `scan`
# of the same file, measured in the same run: each iteration scans the file
# and then catches up on it, and the best of each is printed. Beside them:
# CPU time (steadier than wall time on a loaded machine), and the CPU of
# the watcher's goroutine alone, the serial part that more cores do not
# shorten.
#
#   bench/catchup.sh                 # 130 MB backlog, 5 iterations
#   MB=256 COUNT=3 bench/catchup.sh
#   FILES=16 bench/catchup.sh        # the same backlog over 16 replicas' logs
#   AHEAD=3 bench/catchup.sh         # batches taken ahead (default: twice the cores and two; 6 MiB of parsed records at most)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mb=${MB:-130}
count=${COUNT:-5}
files=${FILES:-1}
ahead=${AHEAD:-0}
[[ $mb =~ ^[1-9][0-9]*$ ]] || { echo "catchup.sh: MB must be a positive integer, got '$mb'" >&2; exit 2; }
[[ $count =~ ^[1-9][0-9]*$ ]] || { echo "catchup.sh: COUNT must be a positive integer, got '$count'" >&2; exit 2; }
[[ $files =~ ^[1-9][0-9]*$ ]] || { echo "catchup.sh: FILES must be a positive integer, got '$files'" >&2; exit 2; }
[[ $ahead =~ ^[0-9]+$ ]] || { echo "catchup.sh: AHEAD must be a non-negative integer, got '$ahead'" >&2; exit 2; }
cd "$root"
echo "backlog: ${mb} MB generated log in $files file(s), read from the start; baseline: scan of the same files, same iterations (best of $count)"
GRACEGUARD_BENCH_MB=$mb GRACEGUARD_BENCH_FILES=$files GRACEGUARD_BENCH_AHEAD=$ahead go test ./pipeline -run '^$' -bench 'WatchCatchUpVsScan$' -benchtime "${count}x" -count 1 |
	awk -v mb="$mb" '/^BenchmarkWatchCatchUpVsScan/ {
		for (i = 1; i <= NF; i++) {
			if ($(i+1) == "catchup-ms") w = $i; if ($(i+1) == "scan-ms") s = $i; if ($(i+1) == "catchup-x") x = $i
			if ($(i+1) == "catchup-cpu-ms") wc = $i; if ($(i+1) == "scan-cpu-ms") sc = $i
			if ($(i+1) == "watcher-cpu-ms") wg = $i
		}
		printf "watch catch-up: %8.1f ms (%6.1f MB/s)   scan (baseline): %8.1f ms (%6.1f MB/s)   ratio %.2fx   target: <= 1.5x\n", w, mb*1000/w, s, mb*1000/s, x
		printf "CPU (user+system): catch-up %.1f ms, scan %.1f ms, ratio %.2fx\n", wc, sc, wc/sc
		printf "the watcher goroutine alone (the serial part, a floor under catch-up wall time): %.1f ms CPU, %.2fx scan wall time\n", wg, wg/s
		found = 1
	}
	END { if (!found) { print "catchup.sh: the benchmark printed no result" > "/dev/stderr"; exit 1 } }'
