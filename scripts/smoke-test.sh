#!/usr/bin/env bash
# smoke-test.sh: every cross-built edgemq runs under qemu-user, serves real
# MQTT clients, and keeps its data across a restart.
#
#   scripts/smoke-test.sh                     # arm64 armv5 armv7 mips mipsle riscv64
#   scripts/smoke-test.sh mipsle riscv64      # some of scripts/cross-build.sh -l
#
# For each target it builds dist/edgemq-linux-<target> (scripts/cross-build.sh),
# then, under qemu-<arch>-static with the CPU of a real board of that class
# (ARM926EJ-S for ARMv5, Cortex-A7 for ARMv7, ARM1176 for ARMv6, MIPS 24Kc
# without FPU for 32-bit MIPS):
#
#   1. `edgemq version` names the target's GOARCH and the stamped version;
#   2. the broker starts on a data dir and logs the storage engine: bolt on
#      32-bit ARM and MIPS (badger must not even be linked there), badger on
#      arm64, and on the other 64-bit targets badger when the binary links
#      it, else bolt;
#   3. mosquitto_sub (MQTT 5) receives a QoS 1 message from mosquitto_pub;
#   4. a persistent MQTT 3.1.1 session subscribes and goes away, a QoS 1
#      message is queued for it, and a retained message is set;
#   5. SIGTERM: exit status 0; the engine's files are in the data dir;
#   6. after a restart the retained message and the queued message are
#      delivered: they came back from flash;
#   7. SIGTERM again: exit status 0.
#
# Needs qemu-user-static and mosquitto-clients (scripts/test-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(arm64 armv5 armv7 mips mipsle riscv64)

declare -A qemu=(
  [amd64]=""
  [arm64]="qemu-aarch64-static"
  [armv5]="qemu-arm-static -cpu arm926"
  [armv6]="qemu-arm-static -cpu arm1176"
  [armv7]="qemu-arm-static -cpu cortex-a7"
  [mips]="qemu-mips-static -cpu 24Kc"
  [mipsle]="qemu-mipsel-static -cpu 24Kc"
  [mips64]="qemu-mips64-static"
  [mips64le]="qemu-mips64el-static"
  [riscv64]="qemu-riscv64-static"
)
declare -A goarch=(
  [amd64]=amd64 [arm64]=arm64 [armv5]=arm [armv6]=arm [armv7]=arm [mips]=mips
  [mipsle]=mipsle [mips64]=mips64 [mips64le]=mips64le [riscv64]=riscv64
)
# The engine each target must use: "linked" means badger when the binary
# links it (storage's build constraint decides), else bolt.
declare -A want_engine=(
  [amd64]=badger [arm64]=badger [armv5]=bolt [armv6]=bolt [armv7]=bolt
  [mips]=bolt [mipsle]=bolt [mips64]=linked [mips64le]=linked [riscv64]=linked
)
for t in "${targets[@]}"; do
  [ -n "${goarch[$t]:-}" ] || { echo "smoke-test: unknown target $t" >&2; exit 2; }
done

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
export VERSION=${VERSION:-smoke-$(git rev-parse --short=12 HEAD 2>/dev/null || echo dev)}
DIST=${DIST:-dist}
export DIST
scripts/cross-build.sh "${targets[@]}" >/dev/null

tmp=$(mktemp -d)
pid=""
# shellcheck disable=SC2317 # called by the trap
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "FAIL [$t]: $*" >&2; [ -f "$log" ] && sed 's/^/    log: /' "$log" | tail -20 >&2; return 1; }

# start_broker: run the binary in the background, wait until it listens,
# set $pid and $port.
start_broker() {
  : >"$log"
  # shellcheck disable=SC2086 # $q is the qemu command and its flags
  $q "$bin" -c "$cfg" >>"$log" 2>&1 &
  pid=$!
  local tries
  for ((tries = 0; tries < 600; tries++)); do
    if grep -q 'msg=listening' "$log"; then
      port=$(sed -n 's/.*msg=listening .*address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)
      [ -n "$port" ] && return 0
    fi
    kill -0 "$pid" 2>/dev/null || { pid=""; fail "edgemq exited during start-up"; return 1; }
    sleep 0.1
  done
  fail "edgemq did not listen within 60 s"
}

# stop_broker: SIGTERM, and the exit status must be 0.
stop_broker() {
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  pid=""
  [ "$rc" -eq 0 ] || fail "exit status $rc after SIGTERM"
}

sub() { timeout 60 mosquitto_sub -h 127.0.0.1 -p "$port" "$@"; }
pub() { timeout 30 mosquitto_pub -h 127.0.0.1 -p "$port" "$@"; }

smoke() {
  local dir="$tmp/$t"
  mkdir -p "$dir"
  bin="$DIST/edgemq-linux-$t"
  q=${qemu[$t]}
  log="$dir/edgemq.log"
  cfg="$dir/edgemq.yaml"
  cat >"$cfg" <<EOF
data_dir: $dir/data
storage: {engine: auto, sync: batch}
listeners: [{type: tcp, address: "127.0.0.1:0"}]
log: {level: info}
EOF

  # 1. version
  local out
  # shellcheck disable=SC2086
  out=$($q "$bin" version) || { fail "edgemq version failed"; return 1; }
  grep -q "^edgemq $VERSION\$" <<<"$out" || { fail "version output lacks 'edgemq $VERSION': $out"; return 1; }
  grep -q "^platform: linux/${goarch[$t]}\\b" <<<"$out" || { fail "version output lacks platform linux/${goarch[$t]}: $out"; return 1; }
  grep -q '^board: ' <<<"$out" || { fail "version output lacks the board line: $out"; return 1; }

  # 2. start, engine
  local want=${want_engine[$t]} linked=no
  if "$GO" version -m "$bin" | grep -q 'dep[[:space:]]*github.com/dgraph-io/badger/v4'; then linked=yes; fi
  if [ "$want" = linked ]; then
    want=bolt
    [ "$linked" = yes ] && want=badger
  elif [ "$want" = bolt ] && [ "$linked" = yes ]; then
    fail "a bolt-only target links badger"; return 1
  fi
  local t0=$SECONDS
  start_broker || return 1
  startup=$((SECONDS - t0))
  grep -q "msg=\"storage open\" engine=$want " "$log" || { fail "engine is not $want"; return 1; }
  engine=$want

  # 3. live QoS 1 publish -> subscribe (MQTT 5)
  sub -V mqttv5 -q 1 -t smoke/live -C 1 -W 50 >"$dir/live.out" &
  local subpid=$! n=0
  while kill -0 "$subpid" 2>/dev/null && [ $n -lt 100 ]; do
    pub -V mqttv5 -q 1 -t smoke/live -m "hello from $t" || true
    sleep 0.3
    n=$((n + 1))
  done
  wait "$subpid" || { fail "mosquitto_sub got nothing on smoke/live"; return 1; }
  [ "$(cat "$dir/live.out")" = "hello from $t" ] || { fail "smoke/live got '$(cat "$dir/live.out")'"; return 1; }

  # 4. persistent session with a queued message, and a retained message
  sub -V mqttv311 -i "smoke-durable" -c -q 1 -t smoke/queued -E || { fail "persistent subscribe"; return 1; }
  pub -V mqttv311 -q 1 -t smoke/queued -m "queued on $t" || { fail "publish to the offline session"; return 1; }
  pub -V mqttv311 -q 1 -r -t smoke/retained -m "retained on $t" || { fail "retained publish"; return 1; }

  # 5. clean stop, files on disk
  stop_broker || return 1
  case $engine in
    bolt) [ -s "$dir/data/edgemq.bolt" ] || { fail "no edgemq.bolt in the data dir"; return 1; } ;;
    badger) [ -s "$dir/data/MANIFEST" ] || { fail "no badger MANIFEST in the data dir"; return 1; } ;;
  esac

  # 6. restart: both messages come back from flash
  start_broker || return 1
  grep -q "msg=\"storage open\" engine=$engine " "$log" || { fail "engine changed on restart"; return 1; }
  out=$(sub -V mqttv311 -q 1 -t smoke/retained -C 1 -W 50) || { fail "no retained message after restart"; return 1; }
  [ "$out" = "retained on $t" ] || { fail "retained after restart: '$out'"; return 1; }
  out=$(sub -V mqttv311 -i "smoke-durable" -c -q 1 -t smoke/queued -C 1 -W 50) || { fail "queued message lost in the restart"; return 1; }
  [ "$out" = "queued on $t" ] || { fail "queued after restart: '$out'"; return 1; }

  # 7. clean stop again
  stop_broker || return 1
}

rows=()
failed=0
for t in "${targets[@]}"; do
  engine="-" startup="-"
  t1=$SECONDS
  if smoke; then result=ok; else result=FAIL; failed=1; fi
  rows+=("$(printf '%-11s %-30s %-7s %8s %9s  %s' "$t" "${qemu[$t]:-native}" "$engine" "${startup}s" "$((SECONDS - t1))s" "$result")")
done
printf '%-11s %-30s %-7s %8s %9s  %s\n' target emulator engine start-up total result
printf '%s\n' "${rows[@]}"
exit $failed
