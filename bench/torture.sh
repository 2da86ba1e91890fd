#!/usr/bin/env bash
# Torture run of graceguard watch: a log written at RATE lines/s (5,000) and
# rotated every ROTATE (2s) by rename (ROTATION=copytruncate for the other
# kind) for DURATION seconds (60), while watch is killed with SIGKILL every
# 1-4 s and started again after 0-DOWN s (5: up to two rotations while it is
# down); then one last run reads to the end.
# Every line is a refresh with its own session id, and a rule alerts on
# each, so the alerts tell which lines reached a sink: it prints lines written, lines
# lost (no alert, target 0) and lines delivered twice (two alerts on stdout:
# at most the one group a kill cuts between stdout's write and the ledger's
# record). Lines read again after a kill (those after the last checkpoint)
# are expected; their alerts are recognised by id and not sent again.
# WATCH_FLAGS are added to every watch (e.g. --inotify=false); KEEP=1 keeps
# the work directory (the log's generations, alerts, watch's stderr).
#
# To extend (alert counts for replays, other sinks): add lines to the
# generator and a count to the summary at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/settle.sh
out=${OUT:-bench/out}
mkdir -p "$out"
RATE=${RATE:-5000}
ROTATE=${ROTATE:-2s}
DURATION=${DURATION:-60}
ROTATION=${ROTATION:-rename}
DOWN=${DOWN:-5}
go build -o "$out/graceguard" ./cmd/graceguard
go build -o "$out/gentorture" ./bench/gentorture

work=${WORK:-$(mktemp -d)}
# The sent-id log is synced per alert group: on tmpfs, so the run measures
# following, not the disk.
state=$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)
pid="" gen=""
# (|| true: under set -e a failing kill would end the trap before the rm.)
trap 'kill -9 "$pid" 2>/dev/null || true; kill "$gen" 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "kept $work $state"; else rm -rf "$work" "$state"; fi' EXIT
log=$work/app.log alerts=$work/alerts.jsonl rules=$work/rules.yaml
cat >"$rules" <<'YAML'
rules:
  - name: every-line
    severity: info
    when: event.kind == "token_ok"
YAML
: >"$log"
copy=""
[ "$ROTATION" = copytruncate ] && copy=-copytruncate
"$out/gentorture" -o "$log" -rate "$RATE" -rotate "$ROTATE" -for "${DURATION}s" $copy >"$work/written" &
gen=$!

# watch [FLAG...] starts graceguard watch in the background; its pid is in $pid.
watch() {
  # shellcheck disable=SC2086 # WATCH_FLAGS is words
  "$out/graceguard" watch "$@" ${WATCH_FLAGS:-} --format json --rules "$rules" --state-dir "$state" --checkpoint-every 1s \
    --log-level "${LOG_LEVEL:-warn}" --settle 10ms "$log" >>"$alerts" 2>>"$work/stderr" &
  pid=$!
}

kills=0
while kill -0 "$gen" 2>/dev/null; do
  watch
  sleep "$(awk -v r="$RANDOM" 'BEGIN{printf "%.2f", 1 + 3 * r / 32767}')"
  kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
  wait "$pid" 2>/dev/null || true
  pid="" # reaped: the trap must not signal whoever gets its pid next
  # The ledger keeps only the newest ids: those of each kill are kept here.
  cat "$state/delivery.ledger" >>"$work/ledger.ids" 2>/dev/null || true
  sleep "$(awk -v r="$RANDOM" -v d="$DOWN" 'BEGIN{printf "%.2f", d * r / 32767}')"
done
wait "$gen"
gen=""
written=$(cat "$work/written")
PORT=${PORT:-$((20000 + RANDOM % 20000))}
began=$SECONDS
watch --listen "127.0.0.1:$PORT"
# The last run reads to the end: wait until the last line's alert is out
# (catching up over many generations on a loaded machine takes minutes) or
# FINAL_WAIT seconds (600) pass; then until it is ready (a large checkpoint
# takes seconds to load) and has read no record for 5 s (lines read again
# after a kill make no alert, so alerts cannot tell).
last=$(printf '"session":"f%040d"' $((written - 1)))
for ((waited = 0; waited < ${FINAL_WAIT:-600}; waited++)); do
  grep -qF "$last" "$alerts" 2>/dev/null && break
  sleep 1
done
[ "$waited" -lt "${FINAL_WAIT:-600}" ] || echo "the last line's alert did not come within ${FINAL_WAIT:-600} s" >&2
caught=$((SECONDS - began)) # the last run's catch-up, printed with the figures
stop_when_settled "$PORT" "$pid"
pid=""

# stdout is at least once (README, "Delivery guarantees"): a group goes
# into the delivery ledger as "leaving ID[,ID...] JSON" before stdout
# prints it and as its bare ids once printed; a restart prints the groups
# left leaving again. So a kill between stdout's write and the ledger's
# second record repeats that one group (at most one a kill), and the ledger
# tells two faults apart from that: ids recorded as printed that are not on
# stdout (recorded before the write), and ids left leaving that no run
# printed (not handed out again). The ledger keeps the newest 100,000 ids;
# what it held at each kill is in ledger.ids, so both cover every run.
awk -v written="$written" -v kills="$kills" -v rot="$ROTATION" -v rate="$RATE" -v dur="$DURATION" -v down="$DOWN" '
  FILENAME == ARGV[1] {
    if ($1 == "leaving") { n = split($2, ids, ","); for (i = 1; i <= n; i++) leaving[ids[i]] = 1 }
    else if ($1 ~ /^[0-9a-f]+$/) recorded[$1] = 1
    next
  }
  /"rule":"every-line"/ {
    match($0, /"session":"f[0-9]+"/); u = substr($0, RSTART + 12, RLENGTH - 13) + 0
    seen[u]++; total++
    match($0, /"id":"[0-9a-f]+"/); printed[substr($0, RSTART + 6, RLENGTH - 7)] = 1
  }
  END {
    lost = 0; twice = 0; early = 0; left = 0
    for (i = 0; i < written; i++) { if (!(i in seen)) lost++; else if (seen[i] > 1) twice += seen[i] - 1 }
    for (id in recorded) if (!(id in printed)) early++
    for (id in leaving) if (!(id in printed)) left++
    printf "torture (%s rotation, %d lines/s for %d s, %d kill -9, down 0-%d s each): lines written %d, lines lost %d (target 0), lines delivered twice %d (target: at most one group a kill, stdout being at least once); ledger: %d ids recorded as printed but not on stdout, %d ids left leaving and never printed (targets 0)\n", rot, rate, dur, kills, down, written, lost, twice, early, left
    if (twice > kills) printf "stdout repeated more than one alert a kill (%d kills): more than the kill-cut group\n", kills
  }' <(cat "$work/ledger.ids" "$state/delivery.ledger" 2>/dev/null) "$alerts"
echo "the last run (started when the generator stopped) had the last line's alert out after ${caught} s"
grep -c 'level=ERROR' "$work/stderr" | awk '{ if ($1 > 0) print "errors logged by watch: " $1 }' || true
# Generations deleted before watch read them to their end (it fell more
# than the kept generations behind: a loaded machine catching up after a
# kill): said once each, and where their lost lines went.
grep 'deleted before graceguard read it' "$work/stderr" | awk '
  { n++; if (match($0, /lost_bytes=[0-9]+/)) b += substr($0, RSTART + 11, RLENGTH - 11) }
  END { if (n > 0) printf "generations deleted before watch read them: %d (%d bytes unread at the checkpoints before, about %d lines: at most what was lost with them, as a killed run may have read some after its checkpoint)\n", n, b, int((b + 232) / 233) }' || true
