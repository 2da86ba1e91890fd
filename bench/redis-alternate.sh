#!/usr/bin/env bash
# Compare builds' Redis catch-ups in one run, alternating them, so the
# machine's drift (this VM's speed moves by 10-20% within an hour) and
# other work on it fall on all of them alike.
#
#   go test -c -o /tmp/old.test ./pipeline   # in a checkout of the old commit
#   go test -c -o /tmp/new.test ./pipeline
#   ROUNDS=3 bench/redis-alternate.sh /tmp/old.test /tmp/new.test
#
# Each round runs each binary's BenchmarkWatchCatchUpRedis (MB, default 64;
# ITER catch-ups, default 3, each binary's best reported) and prints its
# figures: redis MB/s beside the memory-state baseline of the same
# iterations, and both sides' CPU per catch-up (redis-server's and the
# watcher's). Then the best MB/s of each binary over the rounds. Needs
# redis-server on PATH (apt-get install redis-server).
set -euo pipefail
rounds=${ROUNDS:-3}
iter=${ITER:-3}
mb=${MB:-64}
for v in "$rounds" "$iter" "$mb"; do
	[[ $v =~ ^[1-9][0-9]*$ ]] || { echo "redis-alternate.sh: ROUNDS, ITER and MB must be positive integers, got '$v'" >&2; exit 2; }
done
(($# >= 1)) || { echo "usage: redis-alternate.sh TEST-BINARY..." >&2; exit 2; }
bins=()
for b in "$@"; do
	[[ -x $b ]] || { echo "redis-alternate.sh: $b is not an executable" >&2; exit 2; }
	bins+=("$(realpath "$b")") # the runs below start in pipeline/
done
set -- "${bins[@]}"
command -v redis-server >/dev/null || { echo "redis-alternate.sh: redis-server is not on PATH (apt-get install redis-server)" >&2; exit 2; }
# The benchmark writes its backlog under the package's directory's temp.
cd "$(dirname "${BASH_SOURCE[0]}")/../pipeline"
declare -A best
echo "load $(cut -d' ' -f1-3 /proc/loadavg); $rounds rounds of $iter catch-ups of $mb MB per binary"
for ((r = 1; r <= rounds; r++)); do
	for b in "$@"; do
		line=$(GRACEGUARD_BENCH_MB=$mb "$b" -test.run '^$' -test.bench 'WatchCatchUpRedis$' -test.benchtime "${iter}x" -test.count 1 2>&1 |
			awk -v mb="$mb" '/^BenchmarkWatchCatchUpRedis/ {
				for (i = 1; i <= NF; i++) {
					if ($(i+1) == "redis-MB/s") r = $i; if ($(i+1) == "memory-MB/s") m = $i
					if ($(i+1) == "redis-cpu-s") c = $i; if ($(i+1) == "watcher-cpu-s") w = $i
				}
				printf "%.1f redis %6.1f MB/s  memory %7.1f MB/s  redis-server CPU %.3f s  watcher CPU %.3f s", r, r, m, c, w
			}')
		[[ -n $line ]] || { echo "redis-alternate.sh: $b printed no result" >&2; exit 1; }
		mbs=${line%% *}
		printf 'round %d  %-28s %s\n' "$r" "$b" "${line#* }"
		if [[ -z ${best[$b]:-} ]] || awk -v a="$mbs" -v b="${best[$b]}" 'BEGIN { exit !(a > b) }'; then best[$b]=$mbs; fi
	done
done
for b in "$@"; do
	printf 'best  %-28s %s MB/s\n' "$b" "${best[$b]}"
done
echo "load $(cut -d' ' -f1-3 /proc/loadavg)"
