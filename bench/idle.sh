#!/usr/bin/env bash
# Measures graceguard watch's CPU while idle: watch over 1 file and over 64
# files that nothing writes to, three ways side by side (so they share the
# machine's load):
#   - events, written since start: file events (the default), and one line
#     appended to every file once the watcher is up, as a sidecar's log is
#     written and then goes quiet: events are then seen to arrive there,
#     and the safety look backs off to every 10 s;
#   - events, never written since start: on a local filesystem (ext4,
#     tmpfs, ...: where mktemp puts it here) the safety look backs off all
#     the same; elsewhere (NFS) it would stay at every second until an
#     event showed that events arrive there;
#   - poll: the baseline, --inotify=false (a look at every file every
#     --poll, 20 ms).
# Each watcher is left WARMUP seconds (default 25: reading, the checkpoint,
# going idle, and the safety look's back-off 1+2+4+8 s) before its CPU is
# taken over DURATION seconds (default 60).
#
# With perf (Debian: linux-perf) the CPU is perf's task-clock of the
# process (exact, not in clock ticks) and wakes are shown as context
# switches and system calls per second; without it, utime+stime from
# /proc/PID/stat (10 ms ticks: 0.017% of a core over 60 s is the
# resolution) and no wake counts.
# Prints % of one core per watcher.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"
DURATION=${DURATION:-60}
WARMUP=${WARMUP:-25}
go build -o "$out/graceguard" ./cmd/graceguard
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

line() { # line USER SECOND
  printf '[2026-11-23 10:00:%02d,000][XNIO-1 task-1] INFO  AccessLog - [AzSuccess] - k8sidp - https://k8sou.example.com/auth/idp/k8sIdp/token - uid=idle%03d,ou=shadow,o=Tremolo - NONE [198.51.100.23] - [f%d]\n' "$2" "$1" "$2"
}

# files N DIR: N log files with a line each.
files() {
  local n=$1 dir=$2
  mkdir -p "$dir"
  for i in $(seq 1 "$n"); do line "$i" 0 >"$dir/openunison-$i.log"; done
}

# cpu PID: nanoseconds PID (all its threads) has spent on a CPU, from
# /proc/PID/stat's utime+stime (clock ticks).
cpu() {
  local tck
  tck=$(getconf CLK_TCK)
  awk -v t="$tck" '{printf "%d", ($14 + $15) * 1e9 / t}' "/proc/$1/stat"
}

names=() dirs=()
for n in 1 64; do
  for mode in written quiet poll; do
    dir="$work/f$n-$mode"
    files "$n" "$dir"
    inotify=true
    [ "$mode" = poll ] && inotify=false
    "$out/graceguard" watch --inotify="$inotify" --state-dir "$work/state-$n-$mode" --log-level warn \
      "$dir/*.log" >/dev/null &
    pids+=($!)
    dirs+=("$dir")
    case $mode in
    written) names+=("$n file(s), events, written since start") ;;
    quiet) names+=("$n file(s), events, never written since start") ;;
    poll) names+=("$n file(s), poll (--inotify=false)") ;;
    esac
  done
done
# Once a watcher has read its files (its first checkpoint is written), one
# line is appended to each of the "written" ones: its event shows events
# arrive there.
for i in "${!dirs[@]}"; do
  case ${dirs[$i]} in
  *-written)
    n=${dirs[$i]##*/f}
    n=${n%-written}
    for _ in $(seq 1 200); do
      [ -f "$work/state-$n-written/checkpoint.gob" ] && break
      sleep 0.1
    done
    for f in "${dirs[$i]}"/*.log; do line 999 1 >>"$f"; done
    ;;
  esac
done
sleep "$WARMUP"

perf_ok=
if command -v perf >/dev/null && perf stat -e raw_syscalls:sys_enter,task-clock true >/dev/null 2>&1; then
  perf_ok=1
fi
before=()
if [ -n "$perf_ok" ]; then
  for i in "${!pids[@]}"; do
    perf stat -x, -e task-clock,context-switches,raw_syscalls:sys_enter -p "${pids[$i]}" \
      -o "$work/perf-$i" -- sleep "$DURATION" &
  done
  wait $(jobs -p | tail -n "${#pids[@]}") 2>/dev/null || true
  sleep 0.5
else
  for p in "${pids[@]}"; do before+=("$(cpu "$p")"); done
  sleep "$DURATION"
fi

echo "watch idle, CPU over ${DURATION} s after ${WARMUP} s (% of one core; load: $(cut -d' ' -f1-3 /proc/loadavg)); targets: 1 file <= 0.05%, 64 files <= 0.2%:"
for i in "${!pids[@]}"; do
  if [ -n "$perf_ok" ]; then
    awk -F, -v d="$DURATION" -v name="${names[$i]}" '
      $3 == "task-clock" { ms = $1 }
      $3 == "context-switches" { cs = $1 }
      $3 ~ /sys_enter/ { sc = $1 }
      END { printf "  %-46s %.4f%%  (%.2f ms CPU; %.1f context switches/s, %.1f syscalls/s)\n", name, ms / (d * 1e3) * 100, ms, cs / d, sc / d }
    ' "$work/perf-$i"
  else
    after=$(cpu "${pids[$i]}")
    awk -v a="$after" -v b="${before[$i]}" -v d="$DURATION" -v name="${names[$i]}" \
      'BEGIN { printf "  %-46s %.3f%%  (%.1f ms CPU; perf missing (linux-perf): no wake counts)\n", name, (a - b) / (d * 1e9) * 100, (a - b) / 1e6 }'
  fi
done
