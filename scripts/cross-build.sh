#!/usr/bin/env bash
# cross-build.sh: static, stripped edgemq binaries for every target board.
#
#   scripts/cross-build.sh                 # all ten targets into dist/
#   scripts/cross-build.sh mipsle arm64    # only these targets
#   scripts/cross-build.sh -l              # list the targets
#
# Each binary is dist/edgemq-linux-<target>, built with CGO_ENABLED=0 (no
# libc: one static file that runs on glibc, musl and uClibc systems alike),
# -trimpath (no build paths inside) and -ldflags '-s -w' (no symbol table,
# no DWARF). The version and commit are stamped in with -X main.version and
# -X main.commit (`edgemq version` prints them).
#
# Environment: GO (default: go on PATH, else /usr/local/go/bin/go), VERSION
# and COMMIT (default: from git), DIST (default: dist), EXTRA_TAGS (build
# tags added to every target, e.g. nobadger).
#
# Storage engine: badger is compiled in only on amd64, arm64 and riscv64
# (see storage/badger.go); every other target gets bolt alone. The
# "engine" column of the table says which.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
DIST=${DIST:-dist}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
COMMIT=${COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
EXTRA_TAGS=${EXTRA_TAGS:-}

# target name -> go env assignments. The float ABI matters on MIPS: most
# router SoCs (24Kc, 74Kc, 1004Kc) have no FPU and kernels built without
# FPU emulation kill a hard-float binary with SIGILL, so every MIPS target
# is softfloat (GOMIPS / GOMIPS64).
targets=(amd64 arm64 armv5 armv6 armv7 mips mipsle mips64 mips64le riscv64)
declare -A env=(
  [amd64]="GOARCH=amd64"
  [arm64]="GOARCH=arm64"
  [armv5]="GOARCH=arm GOARM=5"
  [armv6]="GOARCH=arm GOARM=6"
  [armv7]="GOARCH=arm GOARM=7"
  [mips]="GOARCH=mips GOMIPS=softfloat"
  [mipsle]="GOARCH=mipsle GOMIPS=softfloat"
  [mips64]="GOARCH=mips64 GOMIPS64=softfloat"
  [mips64le]="GOARCH=mips64le GOMIPS64=softfloat"
  [riscv64]="GOARCH=riscv64"
)
# Build tags of a target beyond EXTRA_TAGS (none today).
declare -A tags=()

if [ "${1:-}" = "-l" ]; then
  for t in "${targets[@]}"; do echo "$t ${env[$t]}${tags[$t]:+ TAGS=${tags[$t]}}"; done
  exit 0
fi

want=("$@")
[ "${#want[@]}" -gt 0 ] || want=("${targets[@]}")
for t in "${want[@]}"; do
  [ -n "${env[$t]:-}" ] || { echo "cross-build: unknown target $t (known: ${targets[*]})" >&2; exit 2; }
done

mkdir -p "$DIST"
ldflags="-s -w -X main.version=$VERSION -X main.commit=$COMMIT"
rows=()
for t in "${want[@]}"; do
  out="$DIST/edgemq-linux-$t"
  t_tags=$(echo "$EXTRA_TAGS ${tags[$t]:-}" | xargs | tr ' ' ,)
  # shellcheck disable=SC2086 # env[$t] is a list of assignments
  env CGO_ENABLED=0 GOOS=linux ${env[$t]} "$GO" build -trimpath -tags "$t_tags" \
    -ldflags "$ldflags" -o "$out" ./cmd/edgemq
  size=$(stat -c %s "$out")
  # Which engines the binary links follows from the build constraints of
  # package storage: go list -deps answers for this target.
  # shellcheck disable=SC2086
  if env GOOS=linux ${env[$t]} "$GO" list -tags "$t_tags" -deps ./cmd/edgemq | grep -q '^github.com/dgraph-io/badger/v4$'; then
    engines="badger+bolt"
  else
    engines="bolt"
  fi
  rows+=("$(printf '%-12s %-40s %-12s %10d %8.2f' "$t" "${env[$t]}${t_tags:+ -tags $t_tags}" "$engines" "$size" "$(echo "$size" | awk '{print $1/1048576}')")")
done

printf '%-12s %-40s %-12s %10s %8s\n' target "go env" engines bytes MiB
printf '%s\n' "${rows[@]}"
echo "version $VERSION, commit $COMMIT; binaries in $DIST/"
