#!/usr/bin/env bash
# Where a scan's wall time goes: how long none, one or two of its threads
# were on a CPU at once, from the kernel's scheduler events (perf sched),
# which cost the scan almost nothing, where a sampling profiler on this VM
# doubles its time and blurs the picture.
#
#   bench/scan-sched.sh LOG [BINARY]
#   RUNS=9 bench/scan-sched.sh bench/out/openunison-100MB-seed1-*.log bench/out/graceguard
#
# A scan keeps both cores busy only while blocks are read and parsed beside
# the Detector: the process's start before it (exec, the runtime, package
# initialisers, cobra, the heap's collection) and the Detector's tail after
# it (the events queued behind it when the last block was parsed) run on
# one thread. grep runs on one thread throughout, so the 1.2x target is
# lost or won in the "one" column as much as in CPU time.
#
# Prints per run: the span from the first to the last moment a thread of
# the scan ran (exec to exit, the parent's fork excluded), the time with
# none, one and two or more of its threads running, and the parts before
# and after the parallel part (from the first to the last stretch of 1 ms or
# more with two threads running: the start, and the Detector's tail with
# the teardown); then the medians. Needs perf (Debian: linux-perf) and root or
# kernel.perf_event_paranoid <= 1. BINARY defaults to bench/out/graceguard
# (bench/scan.sh builds it); bench/scan.sh generates the log.
set -euo pipefail
runs=${RUNS:-7}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "scan-sched.sh: RUNS must be a positive integer, got '$runs'" >&2; exit 2; }
(($# >= 1 && $# <= 2)) || { echo "usage: scan-sched.sh LOG [BINARY]" >&2; exit 2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log=$1
gg=${2:-$root/bench/out/graceguard}
[[ -r $log ]] || { echo "scan-sched.sh: cannot read $log" >&2; exit 2; }
[[ -x $gg ]] || { echo "scan-sched.sh: $gg is not an executable (bench/scan.sh builds bench/out/graceguard)" >&2; exit 2; }
command -v perf >/dev/null || { echo "scan-sched.sh: needs perf (Debian: apt-get install linux-perf)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# perf names a task by the first 15 bytes of the binary's name.
comm=$(basename "$gg" | cut -c1-15)

"$gg" scan "$log" >/dev/null 2>&1 || { echo "scan-sched.sh: $gg scan $log failed" >&2; exit 1; }
echo "load $(cut -d' ' -f1-3 /proc/loadavg), $runs runs of $gg scan $log"
printf '%-5s %9s %9s %9s %9s %11s %11s\n' run span none one two+ "before" "after"
for ((r = 1; r <= runs; r++)); do
	if ! perf sched record -q -o "$work/sched.data" "$gg" scan "$log" >/dev/null 2>"$work/perf.err"; then
		echo "scan-sched.sh: perf sched record failed:" >&2
		sed 's/^/  /' "$work/perf.err" >&2
		exit 1
	fi
	# timehist prints a line per switch away from a task: the time it left
	# the CPU and how long it had run. Each becomes a +1 at its start and a
	# -1 at its end; swept in time order, the count is how many threads ran.
	perf sched timehist -i "$work/sched.data" 2>/dev/null |
		awk -v comm="$comm" '$1 ~ /^[0-9]+\.[0-9]+$/ && index($3, comm "[") == 1 && NF >= 6 {
			end = $1 + 0; run = $6 / 1000
			printf "%.6f 1\n%.6f -1\n", end - run, end
		}' | sort -g -k1,1 -k2,2 |
		awk -v r="$r" '
		# Stretches of two or more running for 1 ms or longer happen only
		# while blocks are parsed beside the Detector: the first one starts
		# the parallel part, the last one ends it.
		function close2(t) { if (t - since >= 0.001) { if (p0 == "") p0 = since; p1 = t } }
		NR == 1 { t0 = $1; last = $1 }
		{
			d = $1 - last
			k = n > 2 ? 2 : n
			acc[k] += d
			was = n; n += $2
			if (was < 2 && n >= 2) since = $1
			if (was >= 2 && n < 2) close2($1)
			last = $1
		}
		END {
			if (NR == 0) { print "scan-sched.sh: no scheduler events of the scan" > "/dev/stderr"; exit 1 }
			if (p0 == "") { p0 = last; p1 = last }
			printf "%-5d %7.1fms %7.1fms %7.1fms %7.1fms %9.1fms %9.1fms\n", r, (last - t0) * 1000, acc[0] * 1000, acc[1] * 1000, acc[2] * 1000, (p0 - t0) * 1000, (last - p1) * 1000
		}'
done | tee "$work/rows"
# median COLUMN: the median of a column of the rows above, without "ms".
median() {
	awk -v c="$1" '{ v = $c; sub(/ms$/, "", v); print v }' "$work/rows" | sort -g |
		awk '{ t[NR] = $1 } END { printf "%.1f", (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2 }'
}
printf '%-5s %7sms %7sms %7sms %7sms %9sms %9sms\n' median "$(median 2)" "$(median 3)" "$(median 4)" "$(median 5)" "$(median 6)" "$(median 7)"
