#!/usr/bin/env bash
# Measures graceguard watch's CPU while idle: watch over 1 file and over 64
# files that nothing writes to, with file events (--inotify) and, as the
# baseline in the same run, without (--inotify=false: a look at every file every --poll,
# 20 ms). Each watcher is started, left WARMUP seconds (default 10)
# to read the files, checkpoint and settle, then its CPU time (utime+stime
# in /proc/PID/stat) is taken over DURATION seconds (default 60). The four
# watchers run side by side, so they share the machine's load.
# Prints % of one core per watcher.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"
DURATION=${DURATION:-60}
WARMUP=${WARMUP:-10}
go build -o "$out/graceguard" ./cmd/graceguard
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# files N DIR: N log files with a few lines each.
files() {
  local n=$1 dir=$2
  mkdir -p "$dir"
  for i in $(seq 1 "$n"); do
    printf '[2026-11-23 10:00:00,000][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - uid=idle%03d,ou=shadow,o=Tremolo - NONE [198.51.100.23] - [f0]\n' "$i" >"$dir/openunison-$i.log"
  done
}

# cpu PID: nanoseconds PID (all its threads) has spent on a CPU, from
# /proc/PID/stat's utime+stime (clock ticks: 10 ms, so 0.017% of a core
# over 60 s is the resolution).
cpu() {
  local tck
  tck=$(getconf CLK_TCK)
  awk -v t="$tck" '{printf "%d", ($14 + $15) * 1e9 / t}' "/proc/$1/stat"
}

names=()
for n in 1 64; do
  files "$n" "$work/f$n"
  for mode in events poll; do
    inotify=true
    [ "$mode" = poll ] && inotify=false
    "$out/graceguard" watch --inotify="$inotify" --state-dir "$work/state-$n-$mode" --log-level warn \
      "$work/f$n/*.log" >/dev/null &
    pids+=($!)
    names+=("$n file(s), $mode")
  done
done
sleep "$WARMUP"
before=()
for p in "${pids[@]}"; do before+=("$(cpu "$p")"); done
sleep "$DURATION"
echo "watch idle, CPU over ${DURATION} s (% of one core; load: $(cut -d' ' -f1-3 /proc/loadavg)):"
for i in "${!pids[@]}"; do
  after=$(cpu "${pids[$i]}")
  awk -v a="$after" -v b="${before[$i]}" -v d="$DURATION" -v name="${names[$i]}" \
    'BEGIN { printf "  %-20s %.3f%%  (%.1f ms CPU)\n", name, (a - b) / (d * 1e9) * 100, (a - b) / 1e6 }'
done
