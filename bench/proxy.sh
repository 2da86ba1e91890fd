#!/usr/bin/env bash
# Does `graceguard scan` read a proxy's access log as fast as OpenUnison's?
#
# A proxy's log carries the whole cluster's traffic; only the ~2% of its
# lines that are OpenUnison token requests matter. The target: scan reads
# a proxy log at least as fast (MB/s per core) as an OpenUnison log of the
# same size. Both are printed next to `grep -cF /token` on the same file,
# measured in the same run, as the yardstick of what the disk cache and a
# plain search deliver.
#
#   bench/proxy.sh                     # 100MB logs, seed 1, 5 runs each
#   SIZE=1GB RUNS=7 bench/proxy.sh
#   FORMATS="ingress-nginx traefik-json" bench/proxy.sh
#   STRICT=1 bench/proxy.sh            # exit 1 when a target is missed
#
# Environment:
#   SIZE     about the size of each log, as bench/genlog reads it (default 100MB)
#   SEED     generator seed (default 1)
#   RUNS     timed runs per command (default 5)
#   FORMATS  proxy formats to measure (default "ingress-nginx ingress-nginx-json")
#   STRICT   1: exit 1 when a target is missed (default 0)
#
# Everything goes to bench/out/ (gitignored), logs keyed by size, seed and a
# hash of the generator's sources.
set -euo pipefail
shopt -s inherit_errexit

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$root/bench/out
size=${SIZE:-100MB}
seed=${SEED:-1}
runs=${RUNS:-5}
formats=${FORMATS:-ingress-nginx ingress-nginx-json}
strict=${STRICT:-0}

die() { echo "proxy.sh: $*" >&2; exit 2; }
[[ $runs =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, got '$runs'"
[[ $seed =~ ^-?[0-9]+$ ]] || die "SEED must be an integer, got '$seed'"
[[ $strict == 0 || $strict == 1 ]] || die "STRICT must be 0 or 1, got '$strict'"
command -v go >/dev/null || die "go is not on PATH"
mkdir -p "$out"
cd "$root"

echo "building genlog and graceguard"
go build -o "$out/genlog" ./bench/genlog
gg=$out/graceguard
go build -o "$gg" ./cmd/graceguard

gen_hash=$(cat internal/loggen/*.go bench/genlog/*.go | sha256sum | cut -c1-10)
# gen NAME FLAGS...: generate a log once, print its path.
gen() {
	local name=$1
	shift
	local log=$out/$name-${size//[^A-Za-z0-9.]/_}-seed$seed-$gen_hash.log
	if [[ ! -s $log ]]; then
		rm -f "$out/$name-${size//[^A-Za-z0-9.]/_}-seed$seed"-*.log
		"$out/genlog" -size "$size" -seed "$seed" "$@" -o "$log.tmp" 2>"$out/genlog.stderr" ||
			die "genlog failed: $(cat "$out/genlog.stderr")"
		mv "$log.tmp" "$log"
	fi
	echo "$log"
}

# cpu_wall CMD...: run CMD once; print "wall cpu" in seconds (cpu = user +
# system time of CMD's processes, from bash's time), fail with its status.
cpu_wall() {
	local TIMEFORMAT='%3R %3U %3S' t
	{ t=$({ time "$@" 2>&3; } 2>&1); } 3>&2 || return
	awk '{ printf "%.6f %.6f\n", $1, $2 + $3 }' <<<"$t"
}

# best: read "wall cpu" lines; print the pair of the fastest wall time.
best() { sort -g | head -n 1; }

# shellcheck disable=SC2317 # run through cpu_wall
run_grep() {
	local rc=0
	grep -cF /token "$1" >"$out/grep.count" || rc=$?
	((rc <= 1)) || return "$rc"
}
# shellcheck disable=SC2317 # run through cpu_wall
run_scan() { "$gg" scan --format json "$1" >"$out/scan.json" 2>"$out/scan.stderr"; }

# measure LOG: print "grep_wall grep_cpu scan_wall scan_cpu".
measure() {
	local g="" s=""
	cat "$1" >/dev/null
	run_scan "$1" || die "scan failed: $(head -n 3 "$out/scan.stderr")"
	for _ in $(seq "$runs"); do
		g+=$(cpu_wall run_grep "$1")$'\n'
		s+=$(cpu_wall run_scan "$1")$'\n'
	done
	echo "$(best <<<"${g%$'\n'}") $(best <<<"${s%$'\n'}")"
}

mbps() { awk -v b="$1" -v s="$2" 'BEGIN { if (s <= 0) print "-"; else printf "%.0f", b / s / 1e6 }'; }

ou=$(gen openunison)
declare -A per_core
printf '\n%-20s %10s %10s %12s %14s %14s\n' log "size MB" "token %" "grep MB/s" "scan MB/s" "scan MB/s/core"
# report NAME LOG: time grep and scan on LOG and print a row. The token
# share is the lines that name the token endpoint.
report() {
	local name=$1 log=$2
	local bytes gw gc sw sc share
	bytes=$(stat -c %s "$log")
	share=$(awk -v l="$(grep -c . "$log")" -v t="$(grep -cF /auth/idp/k8sIdp/token "$log")" 'BEGIN { printf "%.2f", 100 * t / l }')
	read -r gw gc sw sc < <(measure "$log")
	per_core[$name]=$(mbps "$bytes" "$sc")
	printf '%-20s %10.1f %10s %12s %14s %14s\n' "$name" "$(awk -v b="$bytes" 'BEGIN { print b / 1e6 }')" "$share" \
		"$(mbps "$bytes" "$gw")" "$(mbps "$bytes" "$sw")" "${per_core[$name]}"
}
report openunison "$ou"
for f in $formats; do
	report "$f" "$(gen "proxy-$f" -proxy "$f")"
done
printf '\nmachine %s cores, load %s; best of %s runs; per core = bytes / (user + system CPU time)\n' \
	"$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$runs"

fail=0
for f in $formats; do
	if [[ ${per_core[$f]} == - || ${per_core[openunison]} == - ]] || ((per_core[$f] < per_core[openunison])); then
		echo "target missed: $f at ${per_core[$f]} MB/s per core, OpenUnison's log at ${per_core[openunison]}"
		fail=1
	fi
done
((fail)) || echo "target met: every proxy log scans at least as fast per core as OpenUnison's"
((strict && fail)) && exit 1
exit 0
