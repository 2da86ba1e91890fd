# Timing helpers the bench scripts source (bench/scan.sh, bench/alerts.sh).

# timed CMD...: run CMD once, print its wall time in seconds, fail with its
# status. EPOCHREALTIME has microsecond resolution, which a 100 MB grep
# (tens of milliseconds) needs and /usr/bin/time's %e (10 ms) lacks.
timed() {
	local t0=$EPOCHREALTIME rc=0
	"$@" || rc=$?
	local t1=$EPOCHREALTIME
	((rc == 0)) || return "$rc"
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f\n", b - a }'
}

# best_median: read seconds, one per line; print "best median".
best_median() {
	sort -g | awk '{ t[NR] = $1 } END { m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2; printf "%.6f %.6f\n", t[1], m }'
}
