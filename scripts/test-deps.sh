#!/usr/bin/env bash
# test-deps.sh: make sure what `make test` needs is installed.
#
# Missing Debian packages are installed with apt-get when we are root (or
# have passwordless sudo); otherwise the script stops at once and says what
# to install. No test is ever skipped because a tool is absent.
set -euo pipefail

# command -> Debian package
declare -A need=(
  [mosquitto]=mosquitto
  [mosquitto_pub]=mosquitto-clients
  [mosquitto_sub]=mosquitto-clients
  [socat]=socat
  [gcc]=gcc
  [lintian]=lintian
  [busybox]=busybox
  [systemd-sysusers]=systemd
  [openssl]=openssl
  [prlimit]=util-linux
  [chromium]=chromium
)
# Extra packages by name, for tools found outside PATH or by file.
extra_files=(
  "/usr/bin/qemu-arm-static:qemu-user-static"
)

missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${need[$cmd]}")
done
for pair in "${extra_files[@]}"; do
  [ -e "${pair%%:*}" ] || missing+=("${pair##*:}")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
readarray -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
  else
    echo "make test needs these Debian packages: ${missing[*]}" >&2
    echo "install them with:  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
echo "installing test dependencies: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The mosquitto package starts a system broker on 1883; the tests start
# their own brokers on free ports and do not need it.
if command -v systemctl >/dev/null 2>&1; then $sudo systemctl disable --now mosquitto >/dev/null 2>&1 || true; fi
