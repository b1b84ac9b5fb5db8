#!/usr/bin/env bash
# test-openwrt.sh: the OpenWrt package's UCI-to-YAML conversion, checked by
# edgemq itself, and the feed's build inputs.
#
#   packaging/openwrt/test/test-openwrt.sh
#
# 1. Each cases/NAME.uci is /etc/config/edgemq. edgemq-uci2yaml converts it
#    under busybox ash (OpenWrt's shell) and dash, with the stand-ins for
#    /lib/functions.sh (root/lib/functions.sh) and uci (bin/uci). The YAML
#    must equal cases/NAME.yaml, and `edgemq check` must accept it, or,
#    when cases/NAME.err exists, refuse it with exactly those errors (each
#    naming its key). @DIR@ in the cases stands for a temp dir holding the
#    files they name; @FILE@ in .err files for the generated YAML.
#    The package's shipped /etc/config/edgemq is case "default".
# 2. The init script and the converter pass shellcheck (as ash/sh).
# 3. The files golang-package.mk copies into its GOPATH (everything with
#    GO_PKG_INSTALL_ALL, else Go sources, go.mod/go.sum, testdata and
#    GO_PKG_INSTALL_EXTRA, as the Makefile says)
#    build linux/mipsle softfloat with the package's default tag
#    (nobadger): the files embedded with go:embed (config/default.yaml,
#    the status page) must be among them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
pkg=$here/../edgemq
cd "$repo"
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}

shells=()
if command -v busybox >/dev/null; then shells+=("busybox ash"); fi
if command -v dash >/dev/null; then shells+=(dash); fi
[ "${#shells[@]}" -gt 0 ] || { echo "test-openwrt: neither busybox nor dash found (apt-get install busybox)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() { echo "FAIL [$name]: $*" >&2; failed=1; }

CGO_ENABLED=0 "$GO" build -o "$tmp/edgemq" ./cmd/edgemq
# Real files for the cases to name: edgemq check parses them.
echo secret | "$tmp/edgemq" passwd -cost 4 "$tmp/passwd" sensor1 >/dev/null
printf 'topic readwrite sensors/#\n' >"$tmp/acl"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=edgemq-test \
  -keyout "$tmp/server.key" -out "$tmp/server.crt" 2>/dev/null
cp "$tmp/server.crt" "$tmp/ca.crt"

# 1. conversion cases
cp "$pkg/files/edgemq.config" "$tmp/default.uci"
cases=("$tmp/default.uci" "$here"/cases/*.uci)
for uci in "${cases[@]}"; do
  name=$(basename "$uci" .uci)
  mkdir -p "$tmp/etc-$name"
  sed "s|@DIR@|$tmp|g" "$uci" >"$tmp/etc-$name/edgemq"
  out="$tmp/$name.yaml"
  for sh in "${shells[@]}"; do
    # shellcheck disable=SC2086 # "busybox ash" is a command and its argument
    if ! PATH="$here/bin:$PATH" IPKG_INSTROOT="$here/root" UCI_CONFIG_DIR="$tmp/etc-$name" \
      $sh "$pkg/files/edgemq-uci2yaml" >"$out" 2>"$tmp/convert.err"; then
      fail "$sh: conversion failed: $(cat "$tmp/convert.err")"
      continue
    fi
    [ -s "$tmp/convert.err" ] && fail "$sh: conversion wrote to stderr: $(cat "$tmp/convert.err")"
    if ! diff -u <(sed "s|@DIR@|$tmp|g" "$here/cases/$name.yaml") "$out" >"$tmp/diff"; then
      fail "$sh: YAML differs from cases/$name.yaml:"
      cat "$tmp/diff" >&2
    fi
  done
  rc=0
  "$tmp/edgemq" check -c "$out" >"$tmp/check.out" 2>"$tmp/check.err" || rc=$?
  if [ -f "$here/cases/$name.err" ]; then
    [ "$rc" -eq 1 ] || fail "edgemq check exited $rc, want 1"
    if ! diff -u <(sed "s|@FILE@|$out|g" "$here/cases/$name.err") "$tmp/check.err" >"$tmp/diff"; then
      fail "edgemq check errors differ from cases/$name.err:"
      cat "$tmp/diff" >&2
    fi
  else
    if [ "$rc" -ne 0 ] || [ "$(cat "$tmp/check.out")" != "$out: ok" ]; then
      fail "edgemq check refuses it: $(cat "$tmp/check.err")"
    fi
  fi
  if [ "$failed" -eq 0 ]; then
    echo "case $name: converted with ${shells[*]}; edgemq check $([ -f "$here/cases/$name.err" ] && echo "refuses it as expected" || echo ok)"
  fi
done

# 2. shell scripts
name=shellcheck
if command -v shellcheck >/dev/null; then
  shellcheck -s sh "$pkg/files/edgemq-uci2yaml" "$here/root/lib/functions.sh" "$here/bin/uci" || fail "converter or harness"
  # The init script runs under /etc/rc.common (ash), which provides the procd helpers.
  shellcheck -s sh -e SC2034,SC2154 "$pkg/files/edgemq.init" || fail "init script"
  echo "shellcheck: ok"
else
  for f in "$pkg/files/edgemq-uci2yaml" "$pkg/files/edgemq.init"; do sh -n "$f" || fail "$f: syntax"; done
  echo "shellcheck not installed: syntax checked with sh -n"
fi

# 3. what the golang helpers copy must build
name=feed-build
extra=$(sed -n 's/^GO_PKG_INSTALL_EXTRA:=//p' "$pkg/Makefile")
all=$(sed -n 's/^GO_PKG_INSTALL_ALL:=//p' "$pkg/Makefile")
src="$tmp/gopath/src/github.com/edgemq/edgemq"
mkdir -p "$src"
# What Build/Prepare copies into the build dir, then what golang-build.sh
# configure copies from there.
files=$(find . \( -path '*/.*' -o -path ./dist -o -path ./bin -o -path ./packaging -o -path ./edgemq-data \) -prune -o -not -type d -print)
{
  if [ "$all" = 1 ]; then
    printf '%s\n' "$files"
  else
    grep '\.\(c\|cc\|cpp\|go\|h\|hh\|hpp\|proto\|s\)$' <<<"$files" || true
    grep '/testdata/' <<<"$files" || true
    grep '/go\.\(mod\|sum\|work\)$' <<<"$files" || true
    for pattern in $extra; do grep -e "$pattern" <<<"$files" || true; done
  fi
} | sort -u | while read -r f; do
  mkdir -p "$(dirname "$src/${f#./}")"
  cp "$f" "$src/${f#./}"
done
if (cd "$src" && CGO_ENABLED=0 GOOS=linux GOARCH=mipsle GOMIPS=softfloat "$GO" build -tags nobadger -o "$tmp/edgemq-mipsle" ./cmd/edgemq); then
  echo "feed build: the files golang-package.mk copies build for linux/mipsle"
else
  fail "the files golang-package.mk would copy (GO_PKG_INSTALL_ALL=$all GO_PKG_INSTALL_EXTRA=$extra) do not build"
fi
exit $failed
