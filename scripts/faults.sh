#!/usr/bin/env bash
# faults.sh: run the fault suite at full length (make faults) and print one
# line per scenario with its figures, then "N passed, M failed". The
# scenarios are the Go tests in ./faults (see faults/doc.go); each prints a
# "FAULT <name> PASS|FAIL key=value..." line.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
EDGEMQ_FAULTS=full "$GO" test -count=1 -timeout "${FAULTS_TIMEOUT:-3h}" -v ./faults/ "$@" 2>&1 | tee "$log" | grep -E '^(FAULT |--- FAIL|panic:)' || true
pass=$(grep -c '^FAULT .* PASS' "$log" || true)
fail=$(grep -c '^FAULT .* FAIL' "$log" || true)
# A test that died before reporting still counts as failed.
dead=$(grep -E '^--- FAIL' "$log" | wc -l)
[ "$dead" -gt "$fail" ] && fail=$dead
echo
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && grep -q '^ok' "$log"
