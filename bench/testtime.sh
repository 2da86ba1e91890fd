#!/usr/bin/env bash
# How long does `go test ./...` take, and where does the time go?
#
# The team's target: the README's test command, `go test ./...`, under a
# minute on the 2-core development machine; CI runs it with -race
# (.ci/run), well under ten minutes. A package's tests that mostly wait
# (settle times, servers starting, scaled outages) run eight at a time
# (internal/testparallel); a test that is slow and not parallel holds its
# whole package up, as the packages run two at a time.
#
#   bench/testtime.sh                  # go test -count=1 ./..., ranked
#   PKGS='./sinks ./pipeline' bench/testtime.sh
#   RACE=1 bench/testtime.sh           # as CI runs it
#   TOP=40 bench/testtime.sh
#
# Environment:
#   PKGS      packages to test (default ./...)
#   RACE      1: with -race (default 0)
#   TOP       how many of the slowest tests to list (default 25)
#   GNU_TIME  GNU time, for the run's CPU (default /usr/bin/time; empty: wall only)
#
# The load average is printed before and after: the machine is shared, so
# compare a test's elapsed and the run's CPU between runs, not one wall
# figure. A parallel test's elapsed counts its time waiting for a slot.
# The test2json stream is kept in bench/out/testtime.json (gitignored).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$root/bench/out
mkdir -p "$out"
pkgs=${PKGS:-./...}
top=${TOP:-25}
gnu_time=${GNU_TIME-/usr/bin/time}
race=()
[ "${RACE:-0}" = 1 ] && race=(-race)

cd "$root"
# Build first, so that the timed run measures the tests, not the compiler.
# shellcheck disable=SC2086
go test "${race[@]}" -count=1 -run '^$' $pkgs >/dev/null
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
timing=()
[ -n "$gnu_time" ] && [ -x "$gnu_time" ] && timing=("$gnu_time" -f '%e %U %S' -o "$out/testtime.time")
status=0
# shellcheck disable=SC2086
"${timing[@]}" go test "${race[@]}" -count=1 -json $pkgs >"$out/testtime.json" || status=$?
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
if [ ${#timing[@]} -gt 0 ]; then
  # GNU time puts "Command exited with non-zero status N" first when a test fails.
  read -r wall user sys < <(tail -n 1 "$out/testtime.time")
  awk -v w="$wall" -v u="$user" -v s="$sys" -v what="go test ${race[*]:+${race[*]} }-count=1 $pkgs" \
    'BEGIN { printf "%s: %.1f s wall, %.1f s CPU (%.1f user, %.1f system)\n", what, w, u + s, u, s }'
fi

# test2json writes one object a line with its fields in a fixed order:
# Time, Action, Package, Test, Elapsed.
awk -v top="$top" '
  function field(name,   m) {
    if (match($0, "\"" name "\":\"[^\"]*\"")) return substr($0, RSTART + length(name) + 4, RLENGTH - length(name) - 5)
    return ""
  }
  /"Action":"(pass|fail|skip)"/ && /"Elapsed":/ {
    match($0, /"Elapsed":[0-9.e+-]+/); el = substr($0, RSTART + 10, RLENGTH - 10) + 0
    pkg = field("Package"); sub(/^github\.com\/graceguard\/graceguard\/?/, "", pkg); if (pkg == "") pkg = "."
    test = field("Test"); act = field("Action")
    if (test == "") { pk[pkg] = el; pact[pkg] = act; sum += el }
    else { n++; tel[n] = el; tname[n] = pkg " " test (act == "pass" ? "" : " (" act ")") }
  }
  END {
    printf "\npackages by elapsed (sum %.1f s; two run at a time):\n", sum
    cmd = "sort -rn"
    for (p in pk) if (pk[p] >= 0.05) printf "%8.2f  %s%s\n", pk[p], p, (pact[p] == "fail" ? "  FAIL" : "") | cmd
    close(cmd)
    printf "\nthe %d slowest tests (subtests included):\n", top
    cmd = "sort -rn | head -" top
    for (i = 1; i <= n; i++) printf "%8.2f  %s\n", tel[i], tname[i] | cmd
    close(cmd)
  }' "$out/testtime.json"
exit $status
