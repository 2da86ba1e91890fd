# Sourced by the torture scripts (not run on its own): stop_when_settled
# PORT PID waits until the watch process PID serving /readyz and /metrics
# on PORT is ready (its checkpoint loaded, its files open; at most 120 s),
# then until it has read no record for 5 s, and stops it with SIGTERM.
# Lines read again after a kill raise no alert, so only the records count
# tells when the last run has read what it will.
stop_when_settled() {
  local port=$1 pid=$2 i prev=-1 still=0 now
  for ((i = 0; i < 120; i++)); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:$port/readyz" || true)" = 200 ] && break
    sleep 1
  done
  while [ "$still" -lt 5 ]; do
    sleep 1
    now=$(curl -s "127.0.0.1:$port/metrics" | awk '/^graceguard_records_total /{printf "%d", $2}' || true)
    if [ -n "$now" ] && [ "$now" = "$prev" ]; then still=$((still + 1)); else still=0; fi
    prev=${now:-x}
  done
  kill -TERM "$pid"
  wait "$pid" || true
}
