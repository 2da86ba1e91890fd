#!/usr/bin/env bash
# Torture run of graceguard watch for alerts: a log of token replays
# (bench/genreplays: refresh, then a grace reuse from another address, one
# user per replay, so each replay must alert exactly once) written at RATE
# lines/s (5,000), renamed away every ROTATE (2s; 0 for never) for DURATION
# seconds (60), while watch is killed with SIGKILL every 1-4 s and started
# again at once; then one last run reads to the end. It prints, for stdout
# and for the alerts file sink (--alerts-file), replays written, alerts
# lost and alerts repeated.
#
# Expected (README, Delivery guarantees): the file sink 0 lost, 0 repeated,
# 0 half lines; stdout 0 lost and at most one group repeated per kill that
# lands between stdout's write and the ledger's "printed" record (a half
# line there is printed again whole). Lost alerts also count lines the
# follower never read (rotations while watch was down: bench/torture.sh
# measures those). Scratch files go under TMPDIR (mktemp); KEEP=1 keeps
# them.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/settle.sh
out=bench/out
mkdir -p "$out"
RATE=${RATE:-5000}
ROTATE=${ROTATE:-2s}
DURATION=${DURATION:-60}
go build -o "$out/graceguard" ./cmd/graceguard
go build -o "$out/genreplays" ./bench/genreplays

work=$(mktemp -d)
# The ledger and the journal are synced per alert group: on tmpfs, so the
# run measures delivery, not the disk.
state=$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)
pid="" gen=""
# On any exit (an error, ^C) end this run's own watch and generator, and
# only those (other runs on the machine have their own).
# (|| true: under set -e a failing kill would end the trap before the rm.)
trap 'kill -9 "$pid" 2>/dev/null || true; kill "$gen" 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "kept $work $state" >&2; else rm -rf "$work" "$state"; fi' EXIT
echo "work $work state $state" >&2
log=$work/app.log stdout=$work/stdout.jsonl file=$work/alerts.jsonl
: >"$log"
"$out/genreplays" -o "$log" -rate "$RATE" -rotate "$ROTATE" -for "${DURATION}s" >"$work/written" &
gen=$!

watch() {
  "$out/graceguard" watch "$@" --format json --state-dir "$state" --checkpoint-every 1s --poll 20ms \
    --log-level "${LOGLEVEL:-warn}" --alerts-file "$file" "$log" >>"$stdout" 2>>"$work/stderr" &
  pid=$!
}

kills=0
while kill -0 "$gen" 2>/dev/null; do
  watch
  sleep "$(awk -v r="$RANDOM" 'BEGIN{printf "%.2f", 1 + 3 * r / 32767}')"
  kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
  wait "$pid" 2>/dev/null || true
  pid=""
done
wait "$gen"
gen="" # reaped: its pid may be anyone's now
written=$(cat "$work/written")
PORT=${PORT:-$((20000 + RANDOM % 20000))}
began=$SECONDS
watch --listen "127.0.0.1:$PORT"
# The last run reads to the end: wait until the last replay's alert is in
# both outputs (its lines are the last written; a run catching up over many
# generations on a loaded machine can take minutes, and can stall for
# seconds while it writes a checkpoint, so neither the alerts' growth nor
# a quiet spell tells), or FINAL_WAIT seconds (600) pass, then until it has
# read nothing for 5 s.
last="uid=r$((written - 1)),"
for ((waited = 0; waited < ${FINAL_WAIT:-600}; waited++)); do
  grep -qF "$last" "$stdout" 2>/dev/null && grep -qF "$last" "$file" 2>/dev/null && break
  sleep 1
done
[ "$waited" -lt "${FINAL_WAIT:-600}" ] || echo "the last replay's alert did not come within ${FINAL_WAIT:-600} s" >&2
caught=$((SECONDS - began)) # the last run's catch-up, printed with the figures
# Ready: its checkpoint is loaded and its files open; what it re-reads
# from there is read once it has read nothing for 5 s.
stop_when_settled "$PORT" "$pid"
pid=""

# count FILE NAME: replays with no alert, and alerts beyond one per replay,
# among whole lines (a JSON object closed by its brace); half lines left by
# a kill mid-write are counted apart and not as alerts.
count() {
  awk -v written="$written" -v kills="$kills" -v name="$2" -v rate="$RATE" -v dur="$DURATION" -v rot="$ROTATE" '
    !/}$/ { torn++; next }
    /"rule":"reuse-ip-mismatch"/ {
      match($0, /uid=r[0-9]+,/); u = substr($0, RSTART + 5, RLENGTH - 6) + 0
      seen[u]++
    }
    END {
      lost = 0; twice = 0
      for (i = 0; i < written; i++) { if (!(i in seen)) lost++; else if (seen[i] > 1) twice += seen[i] - 1 }
      printf "torture-alerts %s (%d lines/s for %d s, rotation every %s, %d kill -9): replays %d, alerts lost %d, alerts repeated %d, half lines %d\n", name, rate, dur, rot, kills, written, lost, twice, torn
      if (name == "stdout" && twice > kills) printf "stdout repeated more than one group per kill (%d kills)\n", kills
    }' "$1"
}
count "$stdout" stdout
count "$file" alerts-file
echo "the last run (started when the generator stopped) had the last replay's alert out after ${caught} s"
grep -c 'level=ERROR' "$work/stderr" | awk '{ if ($1 > 0) print "errors logged by watch: " $1 }' || true
