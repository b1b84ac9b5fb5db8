#!/usr/bin/env bash
# test-cross.sh: unit tests of the portable packages on foreign CPUs, under
# qemu-user (Debian's qemu-user-static), with `go test -exec`.
#
#   scripts/test-cross.sh            # every run below
#   scripts/test-cross.sh armv5      # the runs whose name starts with armv5
#
# The runs (name, GOARCH/GOARM/GOMIPS, emulated CPU, packages):
#
#   armv7    arm GOARM=7            qemu default CPU   unit packages
#   mipsle   mipsle GOMIPS=softfloat  MIPS 24Kc (no FPU) unit packages
#   riscv64  riscv64                qemu default CPU   unit packages
#   armv5    arm GOARM=5            ARM926EJ-S         storage conformance suite
#
# Unit packages (the documented subset): broker/packet, storage, board,
# config, transport/mqttsn, transport/serial. They hold the code where the
# word size, the byte order, alignment and the FPU matter: codecs, the
# storage engines (bbolt mmaps and badger's arenas), the ioctls. broker and
# cmd/edgemq are left out: their tests are timing-heavy socket tests that
# only get slower under emulation; the smoke test (scripts/smoke-test.sh)
# runs the real broker binary on each CPU instead.
#
# The storage run of each unit run is the conformance suite (TestSuite),
# with the kill -9 crash test (TestCrash re-executes the test binary
# through EDGEMQ_TEST_EXEC, so the child runs under the same emulator), on
# every engine built for that target: bolt and memory on 32-bit ARM and
# MIPS, and badger too where it is built in. That is how a 32-bit bug like
# badger's would be caught. armv5 runs it once more on the oldest ARM core
# a gateway still has.
#
# Before the runs, a check that the emulated CPUs are real limits: a GOARM=7
# binary must die with SIGILL on the ARM926 and a hard-float MIPS binary on
# the 24Kc; otherwise the -cpu runs would prove nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
UNIT_PKGS=(./broker/packet ./storage ./board ./config ./transport/mqttsn ./transport/serial)

# name ; go env ; emulator ; go test flags ; packages
runs=(
  "armv7;GOARCH=arm GOARM=7;qemu-arm-static;;${UNIT_PKGS[*]}"
  "mipsle;GOARCH=mipsle GOMIPS=softfloat;qemu-mipsel-static -cpu 24Kc;;${UNIT_PKGS[*]}"
  "riscv64;GOARCH=riscv64;qemu-riscv64-static;;${UNIT_PKGS[*]}"
  "armv5-storage;GOARCH=arm GOARM=5;qemu-arm-static -cpu arm926;-run ^(TestSuite|TestCrash|TestOpen);./storage"
)

for q in qemu-arm-static qemu-mipsel-static qemu-riscv64-static; do
  command -v "$q" >/dev/null || { echo "test-cross: $q missing: apt-get install qemu-user-static (scripts/test-deps.sh)" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The emulated CPUs must refuse what they lack.
cat >"$tmp/main.go" <<'EOF'
package main

import (
	"fmt"
	"os"
)

func main() { fmt.Println(float64(len(os.Args)) * 1.5) }
EOF
printf 'module cpucheck\ngo 1.21\n' >"$tmp/go.mod"
(cd "$tmp" && CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 "$GO" build -o armv7 . &&
  CGO_ENABLED=0 GOOS=linux GOARCH=mipsle GOMIPS=hardfloat "$GO" build -o mipsle-hf .)
for check in "qemu-arm-static -cpu arm926 $tmp/armv7" "qemu-mipsel-static -cpu 24Kc $tmp/mipsle-hf"; do
  rc=0
  { $check; } >/dev/null 2>&1 || rc=$? # braces: bash names the signal on the redirected stderr
  if [ "$rc" -ne 132 ]; then
    echo "test-cross: '$check' exited $rc, want 132 (SIGILL): the emulator does not enforce that CPU" >&2
    exit 1
  fi
done
echo "emulated CPUs enforce their limits: GOARM=7 on arm926 and hard-float on 24Kc die with SIGILL"

rows=()
failed=0
for r in "${runs[@]}"; do
  IFS=';' read -r name goenv emu flags pkgs <<<"$r"
  if [ $# -gt 0 ]; then
    match=0
    for w in "$@"; do [[ $name == "$w"* ]] && match=1; done
    [ $match -eq 1 ] || continue
  fi
  echo "== $name: $goenv go test -exec '$emu' $flags $pkgs"
  start=$SECONDS
  # shellcheck disable=SC2086 # goenv, flags and pkgs are lists
  if env CGO_ENABLED=0 GOOS=linux $goenv EDGEMQ_TEST_EXEC="$emu" \
    "$GO" test -count=1 -timeout 20m -exec "$emu" $flags $pkgs; then
    result=ok
  else
    result=FAIL
    failed=1
  fi
  rows+=("$(printf '%-14s %-32s %-30s %5ss  %s' "$name" "$goenv" "$emu" "$((SECONDS - start))" "$result")")
done
echo
printf '%-14s %-32s %-30s %6s  %s\n' run "go env" emulator time result
printf '%s\n' "${rows[@]}"
exit $failed
