#!/usr/bin/env bash
# test-deb.sh: build the .deb packages and check them as dpkg and Debian
# policy see them.
#
#   packaging/deb/test-deb.sh              # amd64 arm64 armhf riscv64
#   packaging/deb/test-deb.sh armhf
#
# For each package:
#   1. dpkg-deb --info: the control fields; --contents: exactly the files
#      we ship, owned by root, with their modes.
#   2. lintian: no error and no warning (overrides and info tags are
#      printed; docs/install.md explains each).
#   3. dpkg --root into a throw-away root (an empty dpkg database, a
#      passwd/group with root only; maintainer scripts run chrootless with
#      DPKG_ROOT, as they must support): the system user edgemq exists,
#      the files are in place, the config is root:edgemq 0640 and a
#      registered conffile, the unit is enabled; the installed binary
#      (under qemu for foreign architectures) accepts the installed config
#      (edgemq check) and reports its version.
#   4. A local edit of the conffile survives reinstalling the package; remove
#      keeps the conffile, purge deletes it and the data directory.
# Also: systemd-analyze security scores the unit's sandbox offline.
# Needs dpkg-deb, lintian, systemd-sysusers (the systemd package) and, for
# foreign architectures, qemu-user-static.
set -euo pipefail
cd "$(dirname "$0")/../.."

archs=("$@")
[ "${#archs[@]}" -gt 0 ] || archs=(amd64 arm64 armhf riscv64)
declare -A qemu=([amd64]="" [arm64]=qemu-aarch64-static [armhf]=qemu-arm-static [riscv64]=qemu-riscv64-static)
for tool in dpkg-deb lintian systemd-sysusers; do
  command -v "$tool" >/dev/null || { echo "test-deb: $tool missing (apt-get install lintian systemd)" >&2; exit 1; }
done

DIST=${DIST:-dist}
export DIST
mapfile -t debs < <(packaging/deb/build-deb.sh "${archs[@]}")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() { echo "FAIL [$arch]: $*" >&2; failed=1; }

# The files of the package, as dpkg-deb --contents lists them: mode owner path.
want_contents='drwxr-xr-x root/root ./
drwxr-xr-x root/root ./etc/
drwxr-xr-x root/root ./etc/edgemq/
-rw-r--r-- root/root ./etc/edgemq/edgemq.yaml
drwxr-xr-x root/root ./lib/
drwxr-xr-x root/root ./lib/systemd/
drwxr-xr-x root/root ./lib/systemd/system/
-rw-r--r-- root/root ./lib/systemd/system/edgemq.service
drwxr-xr-x root/root ./usr/
drwxr-xr-x root/root ./usr/bin/
-rwxr-xr-x root/root ./usr/bin/edgemq
drwxr-xr-x root/root ./usr/lib/
drwxr-xr-x root/root ./usr/lib/sysusers.d/
-rw-r--r-- root/root ./usr/lib/sysusers.d/edgemq.conf
drwxr-xr-x root/root ./usr/share/
drwxr-xr-x root/root ./usr/share/doc/
drwxr-xr-x root/root ./usr/share/doc/edgemq/
-rw-r--r-- root/root ./usr/share/doc/edgemq/changelog.gz
-rw-r--r-- root/root ./usr/share/doc/edgemq/copyright
drwxr-xr-x root/root ./usr/share/lintian/
drwxr-xr-x root/root ./usr/share/lintian/overrides/
-rw-r--r-- root/root ./usr/share/lintian/overrides/edgemq
drwxr-xr-x root/root ./usr/share/man/
drwxr-xr-x root/root ./usr/share/man/man1/
-rw-r--r-- root/root ./usr/share/man/man1/edgemq.1.gz'

# stat_is FILE "MODE UID GID": checks a file in the throw-away root.
stat_is() {
  local got
  got=$(stat -c '%a %u %g' "$1")
  [ "$got" = "$2" ] || fail "$1: mode/uid/gid $got, want $2"
}

# The unit parses, and its sandbox scores "OK" or better: systemd's
# exposure scale is 0 (locked down) to 10; --threshold takes tenths.
if command -v systemd-analyze >/dev/null; then
  if ! out=$(systemd-analyze security --offline=true --threshold=25 packaging/deb/files/edgemq.service 2>&1); then
    echo "$out" >&2
    arch=unit fail "systemd-analyze security: exposure above 2.5"
  fi
  echo "unit: $(tail -1 <<<"$out")"
fi

i=0
for arch in "${archs[@]}"; do
  deb=${debs[$i]}
  i=$((i + 1))
  echo "== $deb"

  # 1. control fields and contents
  info=$(dpkg-deb --info "$deb")
  for field in "Package: edgemq" "Architecture: $arch" "Depends: adduser" "Section: net" "Priority: optional"; do
    grep -q "^ $field\$" <<<"$info" || fail "control lacks '$field'"
  done
  [ "$(dpkg-deb --field "$deb" Version)" = "$(basename "$deb" | cut -d_ -f2)" ] || fail "Version does not match the file name"
  for member in conffiles postinst prerm postrm md5sums; do
    grep -q " $member" <<<"$info" || fail "control archive lacks $member"
  done
  [ "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)" = /etc/edgemq/edgemq.yaml ] || fail "conffiles is not /etc/edgemq/edgemq.yaml"
  got_contents=$(dpkg-deb --contents "$deb" | awk '{ print $1, $2, $6 }')
  if [ "$got_contents" != "$want_contents" ]; then
    fail "contents differ from the expected list:"
    diff <(echo "$want_contents") <(echo "$got_contents") >&2 || true
  fi

  # 2. lintian: errors and warnings fail; the rest is shown.
  echo "-- lintian"
  lintian --tag-display-limit 0 -I -E --pedantic --show-overrides "$deb" 2>&1 | grep -v 'running with root privileges' || true
  if lintian --tag-display-limit 0 --fail-on error,warning "$deb" >/dev/null 2>&1; then :; else fail "lintian reports errors or warnings"; fi

  # 3. install into a throw-away root
  root="$tmp/root-$arch"
  mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/log" "$root/etc"
  touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\n' >"$root/etc/group"
  printf 'root:*:19000:0:99999:7:::\n' >"$root/etc/shadow"
  printf 'root:*::\n' >"$root/etc/gshadow"
  dpkgr() { dpkg --root="$root" --force-script-chrootless --force-depends --force-architecture "$@"; }
  if ! dpkgr -i "$deb" >"$tmp/dpkg.log" 2>&1; then
    fail "dpkg -i failed"; cat "$tmp/dpkg.log" >&2; continue
  fi
  q() { dpkg-query --admindir="$root/var/lib/dpkg" -W -f="$1" edgemq; }
  # shellcheck disable=SC2016 # dpkg-query formats, not shell expansions
  [ "$(q '${Status}')" = "install ok installed" ] || fail "status: $(q '${Status}')"
  conf_md5=$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./etc/edgemq/edgemq.yaml | md5sum | cut -d' ' -f1)
  # shellcheck disable=SC2016
  [ "$(q '${Conffiles}')" = " /etc/edgemq/edgemq.yaml $conf_md5" ] || fail "registered conffiles: '$(q '${Conffiles}')'"

  pw=$(grep '^edgemq:' "$root/etc/passwd" || true)
  uid=$(cut -d: -f3 <<<"$pw")
  gid=$(awk -F: '$1 == "edgemq" { print $3 }' "$root/etc/group")
  if [ -z "$pw" ] || [ -z "$gid" ]; then fail "no user or group edgemq in the root"; continue; fi
  [ "$uid" -lt 1000 ] || fail "edgemq uid $uid is not a system uid"
  [ "$(cut -d: -f4,6,7 <<<"$pw")" = "$gid:/var/lib/edgemq:/usr/sbin/nologin" ] || fail "passwd entry: $pw"
  grep -q "^edgemq:" /etc/passwd && fail "the user was created on the host, not in the root"
  stat_is "$root/usr/bin/edgemq" "755 0 0"
  stat_is "$root/etc/edgemq/edgemq.yaml" "640 0 $gid"
  stat_is "$root/lib/systemd/system/edgemq.service" "644 0 0"
  [ "$(readlink "$root/etc/systemd/system/multi-user.target.wants/edgemq.service")" = /lib/systemd/system/edgemq.service ] ||
    fail "edgemq.service is not enabled in multi-user.target"
  grep -q '^data_dir: /var/lib/edgemq$' "$root/etc/edgemq/edgemq.yaml" || fail "the packaged config does not keep data in /var/lib/edgemq"
  # shellcheck disable=SC2086 # qemu may be empty (native)
  out=$(${qemu[$arch]} "$root/usr/bin/edgemq" check -c "$root/etc/edgemq/edgemq.yaml" 2>&1) ||
    fail "edgemq check refuses the packaged config: $out"
  # shellcheck disable=SC2086
  ${qemu[$arch]} "$root/usr/bin/edgemq" version | grep -q '^board: ' || fail "the installed binary does not run"

  # 4. conffile handling, remove, purge
  echo "# local change" >>"$root/etc/edgemq/edgemq.yaml"
  dpkgr --force-confold -i "$deb" >"$tmp/dpkg.log" 2>&1 || { fail "reinstall failed"; cat "$tmp/dpkg.log" >&2; }
  tail -1 "$root/etc/edgemq/edgemq.yaml" | grep -q '^# local change$' || fail "reinstalling lost the local change of the conffile"
  stat_is "$root/etc/edgemq/edgemq.yaml" "640 0 $gid"
  mkdir -p "$root/var/lib/edgemq" && touch "$root/var/lib/edgemq/edgemq.bolt"
  dpkgr -r edgemq >"$tmp/dpkg.log" 2>&1 || { fail "remove failed"; cat "$tmp/dpkg.log" >&2; }
  [ ! -e "$root/usr/bin/edgemq" ] || fail "remove left /usr/bin/edgemq"
  [ -f "$root/etc/edgemq/edgemq.yaml" ] || fail "remove deleted the conffile"
  [ -f "$root/var/lib/edgemq/edgemq.bolt" ] || fail "remove deleted the data"
  # shellcheck disable=SC2016
  [ "$(q '${Status}')" = "deinstall ok config-files" ] || fail "status after remove: $(q '${Status}')"
  dpkgr -P edgemq >"$tmp/dpkg.log" 2>&1 || { fail "purge failed"; cat "$tmp/dpkg.log" >&2; }
  [ ! -e "$root/etc/edgemq/edgemq.yaml" ] || fail "purge left the conffile"
  [ ! -e "$root/var/lib/edgemq" ] || fail "purge left /var/lib/edgemq"
  echo "-- $arch: control, contents, lintian, install, conffile, remove, purge checked"
done
exit $failed
