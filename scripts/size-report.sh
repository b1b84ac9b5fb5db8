#!/usr/bin/env bash
# size-report.sh: what each dependency adds to an edgemq binary.
#
#   scripts/size-report.sh            # linux/mipsle softfloat (the smallest routers)
#   scripts/size-report.sh arm64      # any target of scripts/cross-build.sh -l
#
# Prints Markdown (docs/size.md holds a copy). It builds the target twice,
# as scripts/cross-build.sh does: stripped (-s -w) for the size that ships,
# and unstripped for the symbol table, which `go tool nm -size` reads. Each
# symbol that occupies bytes in the file (code, read-only data, data; not
# bss) is charged to its Go package, and each package to its module
# (`go version -m` lists the modules linked in).
#
# What nm cannot attribute: .gopclntab (function tables the runtime needs
# for stacks and GC, roughly proportional to code), type descriptors and
# string data without their own symbol, ELF headers. The "with overhead"
# column spreads that remainder over the rows in proportion to their
# attributed bytes: an estimate, labelled as such.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
target=${1:-mipsle}
TOP=${TOP:-25}

goenv=$(scripts/cross-build.sh -l | awk -v t="$target" '$1 == t { $1 = ""; print }')
[ -n "$goenv" ] || { echo "size-report: unknown target $target" >&2; exit 2; }
tags=$(sed -n 's/.*TAGS=\([^ ]*\).*/\1/p' <<<"$goenv")
goenv=${goenv/ TAGS=$tags/}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2086 # goenv is a list of assignments
env CGO_ENABLED=0 GOOS=linux $goenv "$GO" build -trimpath -tags "$tags" -ldflags '-s -w' -o "$tmp/stripped" ./cmd/edgemq
# shellcheck disable=SC2086
env CGO_ENABLED=0 GOOS=linux $goenv "$GO" build -trimpath -tags "$tags" -o "$tmp/full" ./cmd/edgemq
stripped=$(stat -c %s "$tmp/stripped")
"$GO" version -m "$tmp/full" | awk '$1 == "mod" || $1 == "dep" { print $2 }' >"$tmp/modules"
"$GO" tool nm -size "$tmp/full" >"$tmp/nm"
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

# Bounds of bss (.bss and .noptrbss are contiguous in Go binaries), as
# zero-padded hex so that awk (mawk has no strtonum) compares strings.
pad() { printf '%016s' "$1" | tr ' ' 0; }
bss=$(pad "$(awk '$4 == "runtime.bss" { print $1 }' "$tmp/nm")")
ebss=$(pad "$(awk '$4 == "runtime.enoptrbss" { print $1 }' "$tmp/nm")")

# Sum the symbols per package and per module: lines
#   P <tab> package <tab> module <tab> code <tab> data
#   B <tab> bss bytes
awk -v bss="$bss" -v ebss="$ebss" '
function pkgof(name,   p, i, rest) {
  if (name ~ /^(go:|type:)/) return "(Go metadata: func data, itabs, type links)"
  p = name
  i = match(p, /[(\[]/); if (i > 0) p = substr(p, 1, i - 1)
  i = match(p, /\/[^\/]*$/)
  if (i > 0) { rest = substr(p, i + 1); p = substr(p, 1, i) } else { rest = p; p = "" }
  i = index(rest, "."); if (i > 0) rest = substr(rest, 1, i - 1)
  p = p rest
  gsub(/%2e/, ".", p) # the linker escapes dots in the last path element: paho%2emqtt%2egolang
  return p
}
function modof(pkg,   i, best) {
  if (pkg ~ /^\(/) return pkg
  if (pkg == "main") return mods[1] # the main module is listed first
  best = ""
  for (i = 1; i <= nmods; i++)
    if ((pkg == mods[i] || index(pkg, mods[i] "/") == 1) && length(mods[i]) > length(best)) best = mods[i]
  if (best != "") return best
  if (pkg ~ /^vendor\// || pkg !~ /^[^\/]*\./) return "Go standard library"
  return "(other)"
}
FNR == NR { mods[++nmods] = $1; next }
$2 > 0 {
  name = $0
  sub(/^ *[0-9a-f]+ +[0-9]+ +[A-Za-z] +/, "", name)
  a = sprintf("%016s", $1); gsub(/ /, "0", a)
  if (a >= bss && a < ebss) { bssbytes += $2; next }
  p = pkgof(name)
  if ($3 ~ /[Tt]/) code[p] += $2; else data[p] += $2
}
END {
  for (p in code) seen[p] = 1
  for (p in data) seen[p] = 1
  for (p in seen) printf "P\t%s\t%s\t%d\t%d\n", p, modof(p), code[p], data[p]
  printf "B\t%d\n", bssbytes
}' "$tmp/modules" "$tmp/nm" >"$tmp/sums"

# Format the Markdown.
awk -F '\t' -v stripped="$stripped" -v top="$TOP" -v target="linux/$target (${goenv# }${tags:+, -tags $tags})" -v commit="$commit" '
$1 == "B" { bssbytes = $2; next }
{
  np++; pk[np] = $2; pm[np] = $3; pc[np] = $4; pd[np] = $5
  mc[$3] += $4; md[$3] += $5; total += $4 + $5
  if ($3 == "Go standard library") { g = $2; sub(/\/.*/, "", g); if (g == "vendor") g = "vendor (x/net, x/crypto copies)"; gc[g] += $4; gd[g] += $5 }
}
function kib(n) { return sprintf("%.1f KiB", n / 1024) }
function row(label, c, d) {
  printf "| %s | %s | %s | %s | %s | %.1f%% |\n", label, kib(c), kib(d), kib(c + d), kib((c + d) * stripped / total), 100 * (c + d) / total
}
END {
  rest = stripped - total
  printf "### %s, commit %s\n\n", target, commit
  printf "Stripped binary: **%d bytes (%.2f MiB)**. Attributed to symbols: %s; not attributable (pclntab, type descriptors, strings, ELF headers): %s (%.0f%% of the file). Zero-initialised data (bss, not in the file): %s.\n\n", stripped, stripped / 1048576, kib(total), kib(rest), 100 * rest / stripped, kib(bssbytes)
  print "By module (\"with overhead\" adds each row'"'"'s proportional share of the unattributable bytes, so that the column sums to the file size):\n"
  print "| module | code | data | total | with overhead (est.) | share |"
  print "| --- | ---: | ---: | ---: | ---: | ---: |"
  # selection sort: a few dozen rows
  nm = 0
  for (m in mc) { nm++; mn[nm] = m }
  for (i = 1; i <= nm; i++) for (j = i + 1; j <= nm; j++)
    if (mc[mn[j]] + md[mn[j]] > mc[mn[i]] + md[mn[i]]) { t = mn[i]; mn[i] = mn[j]; mn[j] = t }
  for (i = 1; i <= nm; i++) row(mn[i], mc[mn[i]], md[mn[i]])
  print "\nThe standard library by top-level directory (crypto is there because TLS is):\n"
  print "| std directory | code | data | total | with overhead (est.) | share |"
  print "| --- | ---: | ---: | ---: | ---: | ---: |"
  ng = 0
  for (g in gc) { ng++; gn[ng] = g }
  for (i = 1; i <= ng; i++) for (j = i + 1; j <= ng; j++)
    if (gc[gn[j]] + gd[gn[j]] > gc[gn[i]] + gd[gn[i]]) { t = gn[i]; gn[i] = gn[j]; gn[j] = t }
  for (i = 1; i <= ng && i <= 12; i++) row(gn[i], gc[gn[i]], gd[gn[i]])
  printf "\nThe %d largest packages:\n\n", top
  print "| package | code | data | total | with overhead (est.) | share |"
  print "| --- | ---: | ---: | ---: | ---: | ---: |"
  for (i = 1; i <= np; i++) idx[i] = i
  for (i = 1; i <= np && i <= top; i++) for (j = i + 1; j <= np; j++)
    if (pc[idx[j]] + pd[idx[j]] > pc[idx[i]] + pd[idx[i]]) { t = idx[i]; idx[i] = idx[j]; idx[j] = t }
  for (i = 1; i <= np && i <= top; i++) row(pk[idx[i]], pc[idx[i]], pd[idx[i]])
}' "$tmp/sums"
