#!/usr/bin/env bash
# build-deb.sh: Debian packages of edgemq, from a staged tree with dpkg-deb.
#
#   packaging/deb/build-deb.sh                  # amd64 arm64 armhf riscv64
#   packaging/deb/build-deb.sh armhf            # some of them
#
# Writes dist/edgemq_<version>_<arch>.deb and prints their paths.
#
# Why dpkg-deb from a staged tree rather than nfpm: a .deb is an ar archive
# of two tarballs, and what makes it a good one is its contents (the unit,
# the maintainer scripts, conffiles, copyright), which we write either way.
# dpkg-deb is on every Debian system (the test installs the result with dpkg
# and checks it with lintian, both Debian tools), builds the archive exactly
# as dpkg expects it, and needs no download; nfpm would add a tool with its
# own module tree to fetch and build on every CI run, to fill in the same
# control fields from YAML.
#
# Architectures and binaries (scripts/cross-build.sh):
#   amd64    edgemq-linux-amd64    x86-64 gateways and PCs
#   arm64    edgemq-linux-arm64    Raspberry Pi 3/4/5 with a 64-bit OS
#   armhf    edgemq-linux-armv6    32-bit Raspberry Pi OS (ARMv6 + VFP: Pi 1
#                                  and Zero) and Debian armhf (ARMv7): an
#                                  ARMv6 binary runs on both
#   riscv64  edgemq-linux-riscv64  RISC-V boards
#
# Environment: VERSION, COMMIT (default from git), DIST (default dist),
# DEB_MAINTAINER (the Maintainer field).
set -euo pipefail
cd "$(dirname "$0")/../.."

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
DIST=${DIST:-dist}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
COMMIT=${COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
DEB_MAINTAINER=${DEB_MAINTAINER:-edgemq maintainers <maintainers@edgemq.invalid>}
export VERSION COMMIT DIST

declare -A target=([amd64]=amd64 [arm64]=arm64 [armhf]=armv6 [riscv64]=riscv64)
archs=("$@")
[ "${#archs[@]}" -gt 0 ] || archs=(amd64 arm64 armhf riscv64)
targets=()
for a in "${archs[@]}"; do
  [ -n "${target[$a]:-}" ] || { echo "build-deb: unknown architecture $a (known: ${!target[*]})" >&2; exit 2; }
  targets+=("${target[$a]}")
done

# debversion turns a git describe into a Debian version: v1.2.0 -> 1.2.0,
# v1.2.0-3-gabc1234 -> 1.2.0+3.gabc1234; an untagged tree gets
# 0.0~git<date>.<commit>, which sorts below any release.
debversion() {
  local v=${1#v}
  if [[ $v =~ ^[0-9]+\.[0-9] ]]; then
    v=${v/-/+}
    echo "${v//-/.}"
  else
    echo "0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || date +%Y%m%d).${COMMIT}"
  fi
}
debver=$(debversion "$VERSION")
# Timestamps come from the commit, so that two builds of one commit give
# the same package (dpkg-deb clamps file times to SOURCE_DATE_EPOCH).
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH

scripts/cross-build.sh "${targets[@]}" >/dev/null

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pkg=packaging/deb

# modcache_dir prints the module cache directory of module@version
# (upper-case letters are escaped as !lower).
modcache_dir() {
  local escaped
  escaped=$(printf '%s' "$1" | sed 's/[A-Z]/!\L&/g')
  echo "$("$GO" env GOMODCACHE)/$escaped@$2"
}

# write_copyright lists the upstream and every Go module statically linked
# into the binary, each with its license text as the module ships it.
write_copyright() {
  local bin=$1 out=$2
  {
    cat <<EOF
edgemq: MQTT and MQTT-SN broker for edge gateways.

Copyright: the edgemq authors.
License: the edgemq authors have not published a license yet; until they
do, no license is granted for edgemq's own code.

/usr/bin/edgemq is a static Go binary. It contains the Go standard library
and runtime and the Go modules listed below, each under its own license,
reproduced here in full as the module ships it.

EOF
    echo "======== Go standard library and runtime ($("$GO" env GOVERSION)): $("$GO" env GOROOT)/LICENSE"
    echo
    cat "$("$GO" env GOROOT)/LICENSE"
    echo
    # A license text shared by several modules (Apache-2.0 mostly) is
    # printed once; later modules point to the first.
    declare -A first=()
    while read -r mod ver; do
      local dir lic sum
      dir=$(modcache_dir "$mod" "$ver")
      lic=$(find "$dir" -maxdepth 1 -type f \( -iname 'LICENSE*' -o -iname 'COPYING*' -o -iname 'LICENCE*' \) | sort | head -1)
      [ -n "$lic" ] || { echo "build-deb: no license file for $mod $ver in $dir" >&2; exit 1; }
      sum=$(md5sum <"$lic" | cut -d' ' -f1)
      echo "======== $mod $ver"
      echo
      if [ -n "${first[$sum]:-}" ]; then
        echo "The same license text as ${first[$sum]}, above."
      elif grep -q 'Apache License' "$lic" && grep -q 'Version 2.0, January 2004' "$lic"; then
        first[$sum]=$mod
        echo "Apache License 2.0. On Debian systems its full text is in"
        echo "/usr/share/common-licenses/Apache-2.0."
        if [ -f "$dir/NOTICE" ]; then
          echo
          echo "Its NOTICE file:"
          echo
          cat "$dir/NOTICE"
        fi
      else
        first[$sum]=$mod
        cat "$lic"
        if grep -q 'Apache License' "$lic"; then
          echo
          echo "On Debian systems the full text of the Apache License 2.0 is in"
          echo "/usr/share/common-licenses/Apache-2.0."
        fi
      fi
      echo
    done < <("$GO" version -m "$bin" | awk '$1 == "dep" { print $2, $3 }')
  } >"$out"
}

for a in "${archs[@]}"; do
  bin="$DIST/edgemq-linux-${target[$a]}"
  root="$tmp/$a"
  install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/etc/edgemq" "$root/lib/systemd/system" \
    "$root/usr/lib/sysusers.d" "$root/usr/share/doc/edgemq" "$root/usr/share/man/man1"
  install -m 0755 "$bin" "$root/usr/bin/edgemq"
  # The packaged config is the built-in default, documented key by key,
  # with its data in the service's state directory.
  grep -q '^data_dir: ./edgemq-data$' config/default.yaml || { echo "build-deb: config/default.yaml has no 'data_dir: ./edgemq-data' line to replace" >&2; exit 1; }
  {
    echo "# /etc/edgemq/edgemq.yaml: the configuration of the edgemq service."
    echo "# Check your changes with: edgemq check -c /etc/edgemq/edgemq.yaml"
    echo "# then: systemctl restart edgemq"
    echo "#"
    sed -e 's|^data_dir: ./edgemq-data$|data_dir: /var/lib/edgemq|' \
      -e '/^# This is the built-in default/,/^# Copy it, edit it/d' config/default.yaml
  } >"$root/etc/edgemq/edgemq.yaml"
  chmod 0644 "$root/etc/edgemq/edgemq.yaml"
  install -m 0644 "$pkg/files/edgemq.service" "$root/lib/systemd/system/edgemq.service"
  install -m 0644 "$pkg/files/edgemq.sysusers" "$root/usr/lib/sysusers.d/edgemq.conf"
  install -d -m 0755 "$root/usr/share/lintian/overrides"
  install -m 0644 "$pkg/files/lintian-overrides" "$root/usr/share/lintian/overrides/edgemq"
  gzip -9n <"$pkg/files/edgemq.1" >"$root/usr/share/man/man1/edgemq.1.gz"
  write_copyright "$bin" "$root/usr/share/doc/edgemq/copyright"
  chmod 0644 "$root/usr/share/doc/edgemq/copyright" "$root/usr/share/man/man1/edgemq.1.gz"
  {
    echo "edgemq ($debver) unstable; urgency=medium"
    echo
    echo "  * Built from commit $COMMIT (version $VERSION)."
    echo
    echo " -- $DEB_MAINTAINER  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
  } | gzip -9n >"$root/usr/share/doc/edgemq/changelog.gz"
  chmod 0644 "$root/usr/share/doc/edgemq/changelog.gz"

  install -m 0755 "$pkg/scripts/postinst" "$pkg/scripts/prerm" "$pkg/scripts/postrm" "$root/DEBIAN/"
  echo /etc/edgemq/edgemq.yaml >"$root/DEBIAN/conffiles"
  (cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
  chmod 0644 "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"
  cat >"$root/DEBIAN/control" <<EOF
Package: edgemq
Version: $debver
Architecture: $a
Maintainer: $DEB_MAINTAINER
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: adduser
Section: net
Priority: optional
Description: MQTT and MQTT-SN broker for edge gateways
 edgemq is an MQTT 3.1.1 and 5.0 broker for gateways with little memory
 and flash, such as a Raspberry Pi. It keeps sessions, queued and retained
 messages on flash, speaks MQTT-SN over UDP and serial lines, and forwards
 chosen topics to a cloud broker, buffering on disk while the uplink is
 down.
 .
 The package runs edgemq as the systemd service edgemq.service, as the
 system user edgemq, with /etc/edgemq/edgemq.yaml (listening on
 127.0.0.1:1883 until you change it) and its data in /var/lib/edgemq.
EOF
  out="$DIST/edgemq_${debver}_$a.deb"
  dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
  echo "$out"
done
