#!/usr/bin/env bash
# How fast does `graceguard scan` go when nearly every record raises an
# alert? An incident's log, or a replay flood: the per-alert work (rules,
# the alert's id and summary, its JSON or text, the write) is what counts
# there, not the split and the parse of bench/scan.sh.
#
# The log is bench/genreplays' (a refresh from the user's address and a
# grace reuse from another: every third line raises two alerts), written at
# RATE lines a second for one second, not rotated. Each run scans it with
# --format json and with the text format, stdout to a file, beside
# `grep -cF ExpiredRefreshTokenUsed` on the same file (the yardstick
# bench/scan.sh uses), alternated, best and median of RUNS. With OLD set to
# another graceguard binary, it is timed in the same rounds and its output
# compared byte for byte.
#
#   bench/alerts.sh                        # 200,000 lines (48.8 MB, 133,200 alerts), 5 runs
#   RATE=50000 RUNS=7 bench/alerts.sh
#   OLD=/tmp/graceguard-main bench/alerts.sh
#
# Everything goes to bench/out/ (gitignored).
set -euo pipefail
shopt -s inherit_errexit

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$root/bench/out
rate=${RATE:-200000}
runs=${RUNS:-5}
old=${OLD:-}
die() { echo "alerts.sh: $*" >&2; exit 2; }
[[ $rate =~ ^[1-9][0-9]*$ ]] || die "RATE must be a positive integer, got '$rate'"
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, got '$runs'"
[[ -z $old || -x $old ]] || die "OLD must name an executable graceguard, got '$old'"
command -v go >/dev/null || die "go is not on PATH"
mkdir -p "$out"
cd "$root"

echo "building genreplays and graceguard"
go build -o "$out/genreplays" ./bench/genreplays
CGO_ENABLED=${CGO_ENABLED:-0} go build -o "$out/graceguard" ./cmd/graceguard
gg=$out/graceguard

gen_hash=$(sha256sum bench/genreplays/*.go | sha256sum | cut -c1-10)
log=$out/replays-$rate-$gen_hash.log
if [[ ! -s $log ]]; then
	rm -f "$out"/replays-"$rate"-*.log
	echo "generating $log"
	"$out/genreplays" -o "$log.tmp" -rate "$rate" -rotate 0 -for 1s >/dev/null
	mv "$log.tmp" "$log"
fi
bytes=$(stat -c %s "$log")
cat "$log" >/dev/null

# shellcheck source=bench/timing.sh
source "$root/bench/timing.sh"
# shellcheck disable=SC2317 # run through timed
run_grep() {
	local rc=0
	grep -cF ExpiredRefreshTokenUsed "$log" >"$out/alerts-grep.count" || rc=$?
	((rc <= 1)) || return "$rc"
}
# shellcheck disable=SC2317 # run through timed
run_scan() { # BINARY FORMAT OUTFILE
	"$1" scan --quiet --format "$2" "$log" >"$3"
}

names=(grep "json" "text")
cmds=("run_grep" "run_scan $gg json $out/alerts-new.json" "run_scan $gg text $out/alerts-new.txt")
if [[ -n $old ]]; then
	names+=("json (OLD)" "text (OLD)")
	cmds+=("run_scan $old json $out/alerts-old.json" "run_scan $old text $out/alerts-old.txt")
fi
declare -A times
echo "timing ${#cmds[@]} commands, $runs runs each, alternated"
for ((r = 0; r < runs; r++)); do
	for i in "${!cmds[@]}"; do
		# shellcheck disable=SC2086 # the command and its words
		times[$i]+="$(timed ${cmds[$i]}) "
	done
done

alerts=$(wc -l <"$out/alerts-new.json")
printf '\nfile     %s\n         %d bytes (%.1f MB), %s lines, %s alerts (json lines)\n' "$log" "$bytes" "$(awk -v b="$bytes" 'BEGIN { print b / 1e6 }')" "$(wc -l <"$log")" "$alerts"
printf '%-12s %10s %10s %12s %12s\n' "" best median "MB/s" "alerts/s"
for i in "${!cmds[@]}"; do
	read -r best median < <(tr ' ' '\n' <<<"${times[$i]}" | grep . | best_median)
	printf '%-12s %9.4fs %9.4fs %12.0f %12s\n' "${names[$i]}" "$best" "$median" \
		"$(awk -v b="$bytes" -v t="$best" 'BEGIN { print b / 1e6 / t }')" \
		"$(awk -v n="$alerts" -v t="$best" -v g="$i" 'BEGIN { if (g == 0) print "-"; else printf "%.0f", n / t }')"
done
if [[ -n $old ]]; then
	for f in json txt; do
		if cmp -s "$out/alerts-new.$f" "$out/alerts-old.$f"; then
			echo "output     $f: the same bytes as OLD's"
		else
			echo "output     $f: DIFFERS from OLD's ($out/alerts-new.$f, $out/alerts-old.$f)"
		fi
	done
fi
