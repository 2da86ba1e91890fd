#!/usr/bin/env bash
# Compare graceguard binaries' scans with each other and with grep in one
# run, alternating them, so the machine's drift (this VM's speed moves by
# 10-20% within an hour) falls on all of them alike.
#
#   bench/scan-alternate.sh LOG BINARY...
#   RUNS=25 bench/scan-alternate.sh bench/out/openunison-100MB-seed1-*.log /tmp/gg-old /tmp/gg-new
#
# Prints, per command, the best and median wall time of RUNS rounds
# (default 25) and the best's ratio to grep's best. grep is
# `grep -cF ExpiredRefreshTokenUsed LOG` with its output captured (GNU grep
# stops at the first match when its stdout is /dev/null). bench/scan.sh
# generates the log.
set -euo pipefail
runs=${RUNS:-25}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "scan-alternate.sh: RUNS must be a positive integer, got '$runs'" >&2; exit 2; }
(($# >= 2)) || { echo "usage: scan-alternate.sh LOG BINARY..." >&2; exit 2; }
log=$1
shift
[[ -r $log ]] || { echo "scan-alternate.sh: cannot read $log" >&2; exit 2; }
for b in "$@"; do
	[[ -x $b ]] || { echo "scan-alternate.sh: $b is not an executable" >&2; exit 2; }
done

cmds=(grep "$@")
declare -A times
usec() { echo "${EPOCHREALTIME/./}"; }
for ((r = 0; r < runs; r++)); do
	for c in "${cmds[@]}"; do
		t0=$(usec)
		if [[ $c == grep ]]; then
			: "$(grep -cF ExpiredRefreshTokenUsed "$log")" # captured, not /dev/null
		else
			"$c" scan "$log" >/dev/null 2>&1 || { echo "scan-alternate.sh: $c scan $log failed" >&2; exit 1; }
		fi
		times[$c]+="$(($(usec) - t0)) "
	done
done
ms() { printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100)); }
echo "load $(cut -d' ' -f1-3 /proc/loadavg), $runs rounds, best and median wall time"
grep_best=
for c in "${cmds[@]}"; do
	read -ra sorted <<<"$(tr ' ' '\n' <<<"${times[$c]}" | sed '/^$/d' | sort -n | tr '\n' ' ')"
	best=${sorted[0]} median=${sorted[$((${#sorted[@]} / 2))]}
	[[ -n $grep_best ]] || grep_best=$best
	printf '%-40s best %7s ms  median %7s ms  best/grep %s\n' "$c" "$(ms "$best")" "$(ms "$median")" \
		"$(awk -v a="$best" -v b="$grep_best" 'BEGIN { printf "%.2fx", a / b }')"
done
