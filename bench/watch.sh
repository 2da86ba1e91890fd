#!/usr/bin/env bash
# Measures graceguard watch's memory: peak RSS while a flood of distinct
# users passes through (USERS, default 1,000,000), and RSS when idle with
# IDLE_USERS (default 10,000) tracked: IDLE_WAIT seconds (default 45: an idle
# watch gives memory back after 30 s of quiet) after the last record, and again
# after IDLE_SCRAPE seconds (default 60) of /metrics scrapes every 0.5 s, as
# a sidecar's idle is never quite idle. Then the same IDLE_USERS spread
# over FILES files (default 64), as a central watcher follows every
# replica's log. Prints the figures, how long reading took and how many
# collections it cost, and the history's size and evictions from
# /metrics; RSS when idle is also shown as its two parts, RssAnon (the Go
# heap, stacks, the runtime's own memory) and RssFile (the binary's code
# and tables paged in).
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"
USERS=${USERS:-1000000}
IDLE_USERS=${IDLE_USERS:-10000}
IDLE_SCRAPE=${IDLE_SCRAPE:-60}
FILES=${FILES:-64}
# Built as the image is (Dockerfile): static, so an idle watch can drop its
# read-only data's pages as well as its code's (cmd/graceguard/codepages_linux.go).
CGO_ENABLED=${CGO_ENABLED:-0} go build -o "$out/graceguard" ./cmd/graceguard
go build -o "$out/genflood" ./bench/genflood

# measure FILE USERS PORT [SCRAPE]: runs watch on FILE (a path or a glob)
# until every record is read, then prints peak and current RSS after
# idling, and after SCRAPE seconds of scrapes when given.
measure() {
  local file=$1 n=$2 port=$3 scrape=${4:-0} state
  state=$(mktemp -d)
  local began
  began=$(date +%s.%N)
  "$out/graceguard" watch --state-dir "$state" --listen "127.0.0.1:$port" --format json --log-level warn "$file" >/dev/null &
  local pid=$!
  trap "kill $pid 2>/dev/null || true" EXIT # a failed measurement leaves no watch behind
  local got=0 gcs read_s
  for _ in $(seq 1 1200); do
    # (|| true: before watch listens curl fails, which must not end the script.)
    got=$(curl -s "127.0.0.1:$port/metrics" 2>/dev/null | awk '/^graceguard_records_total /{printf "%d", $2}' || true)
    if [ "${got:-0}" = "$n" ]; then
      # How long reading took and how many collections it cost: a live heap
      # near the memory limit shows as many (cmd/graceguard/gcpolicy.go).
      read_s=$(echo "$(date +%s.%N) - $began" | bc -l)
      gcs=$(curl -s "127.0.0.1:$port/metrics" | awk '/^go_gc_duration_seconds_count /{printf "%d", $2}')
      break
    fi
    sleep 0.1
  done
  sleep "${IDLE_WAIT:-45}" # idle: checkpointed, and memory released after 30 s of quiet (cmd/graceguard/idlegc.go)
  local status hwm rss parts scraped=""
  status=$(cat "/proc/$pid/status") # one reading: the figures must agree
  hwm=$(awk '/VmHWM/{print $2}' <<<"$status")
  rss=$(awk '/VmRSS/{print $2}' <<<"$status")
  parts=$(awk '/RssAnon/{a=$2} /RssFile/{f=$2} END{printf "anon %.1f + file %.1f MB", a/1024, f/1024}' <<<"$status")
  if [ "$scrape" -gt 0 ]; then
    for _ in $(seq 1 $((scrape * 2))); do
      curl -s "127.0.0.1:$port/metrics" >/dev/null
      sleep 0.5
    done
    scraped=$(awk -v s="$scrape" '/VmRSS/{r=$2} /RssAnon/{a=$2} /RssFile/{f=$2} END{printf ", after %d s of scrapes %.1f MB (anon %.1f + file %.1f)", s, r/1024, a/1024, f/1024}' "/proc/$pid/status")
  fi
  local users evicted
  users=$(curl -s "127.0.0.1:$port/metrics" | awk '/^graceguard_tracked_users /{printf "%d", $2}')
  evicted=$(curl -s "127.0.0.1:$port/metrics" | awk '/^graceguard_evictions_total\{what="users"\}/{printf "%d", $2}')
  kill -TERM "$pid"; wait "$pid" || true
  rm -rf "$state"
  printf '%-10s records %s (read in %.1f s, %s collections), tracked users %s, users evicted %s, peak RSS %.1f MB, RSS when idle %.1f MB (%s)%s\n' \
    "$(basename "$file")" "$got" "${read_s:-0}" "${gcs:-?}" "$users" "$evicted" "$(echo "$hwm/1024" | bc -l)" "$(echo "$rss/1024" | bc -l)" "$parts" "$scraped"
}

[ "${SKIP_FLOOD:-}" = 1 ] || [ -f "$out/flood-$USERS.log" ] || "$out/genflood" -users "$USERS" -o "$out/flood-$USERS.log"
[ -f "$out/flood-$IDLE_USERS.log" ] || "$out/genflood" -users "$IDLE_USERS" -o "$out/flood-$IDLE_USERS.log"
if [ "${SKIP_FLOOD:-}" != 1 ]; then
  echo "flood of $USERS distinct users (target: peak RSS < 128 MB):"
  measure "$out/flood-$USERS.log" "$USERS" 19191
fi
echo "$IDLE_USERS users, then idle (target: RSS < 32 MB):"
measure "$out/flood-$IDLE_USERS.log" "$IDLE_USERS" 19192 "$IDLE_SCRAPE"
spread=$out/flood-$IDLE_USERS-in-$FILES
if [ ! -f "$spread/flood-00.log" ]; then
  mkdir -p "$spread"
  "$out/genflood" -users "$IDLE_USERS" -files "$FILES" -o "$spread/flood"
fi
echo "$IDLE_USERS users over $FILES files, then idle (target: RSS <= 32 MB):"
measure "$spread/*.log" "$IDLE_USERS" 19193 "$IDLE_SCRAPE"
