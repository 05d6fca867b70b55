#!/bin/sh
# mmdebstrap --extract-hook for the image's base root filesystem (scripts/image/base.sh).
# The extract variant unpacks packages without running their maintainer scripts (and skips
# customize hooks), so this writes what those scripts and distroless would: the users, /tmp,
# the CA bundle, and a dpkg status per package so image scanners see what is installed.
# Then it removes every executable a package brought along: the image has no shell and no tools.
set -eu
root=$1

cat > "$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
PASSWD
cat > "$root/etc/group" <<'GROUP'
root:x:0:
tty:x:5:
staff:x:50:
nogroup:x:65534:
nonroot:x:65532:
GROUP
chmod 0644 "$root/etc/passwd" "$root/etc/group"
mkdir -p "$root/home/nonroot" "$root/root"
chown 65532:65532 "$root/home/nonroot"
chmod 0700 "$root/home/nonroot" "$root/root"
mkdir -p "$root/tmp"
chmod 1777 "$root/tmp"

# What update-ca-certificates makes from the default /etc/ca-certificates.conf: every certificate
# the ca-certificates package ships, one PEM bundle.
mkdir -p "$root/etc/ssl/certs"
find "$root/usr/share/ca-certificates" -name '*.crt' | LC_ALL=C sort | xargs cat > "$root/etc/ssl/certs/ca-certificates.crt"
chmod 0644 "$root/etc/ssl/certs/ca-certificates.crt"
[ -s "$root/etc/ssl/certs/ca-certificates.crt" ] || { echo "base-hook: empty CA bundle" >&2; exit 1; }

# dpkg status, the distroless way (one file per package in status.d), from the downloaded .debs.
mkdir -p "$root/var/lib/dpkg/status.d"
for deb in "$root"/var/cache/apt/archives/*.deb; do
  [ -e "$deb" ] || continue
  pkg=$(dpkg-deb -f "$deb" Package)
  { dpkg-deb -f "$deb" Package; echo "Status: install ok installed"; dpkg-deb -f "$deb" | grep -v '^Package:'; } > "$root/var/lib/dpkg/status.d/$pkg"
done
[ -n "$(ls "$root/var/lib/dpkg/status.d")" ] || { echo "base-hook: no packages recorded" >&2; exit 1; }

# No shell, no package manager, no tools (distroless has none either); keep licences, drop docs.
# (/etc/apt stays: mmdebstrap cleans it up itself after this hook; without apt it is inert.)
rm -rf "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/usr/share/perl5" "$root/usr/lib/ssl/misc" \
  "$root/usr/share/man" "$root/usr/share/info" "$root/usr/share/locale" "$root/usr/share/lintian" "$root/usr/share/debconf" \
  "$root/var/cache/debconf" "$root/etc/debconf.conf"
find "$root/usr/share/doc" -type f ! -name copyright -delete 2>/dev/null || true
find "$root/usr/share/doc" -type d -empty -delete 2>/dev/null || true
