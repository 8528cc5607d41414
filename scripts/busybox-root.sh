#!/bin/sh
# busybox-root.sh DIR: make DIR a minimal root filesystem built from Debian's
# busybox-static: /bin/busybox plus its applet links, a root/nobody/tty
# passwd and group, and the empty directories a jail mounts onto.
#
# It is idempotent (re-running refreshes the binary and the links, keeps any
# other file) and needs no network: the Makefile, the benchmarks and the
# integration tests share one root recipe through it.
set -eu

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1

bb=${BUSYBOX:-/bin/busybox}
if [ ! -x "$bb" ]; then
	echo "busybox-root.sh: $bb not found; install it with: apt-get install -y busybox-static" >&2
	exit 1
fi
# A dynamically linked busybox (Debian's "busybox" package) would not run in
# a root without a libc, and fails only later, inside the jail.
if ldd "$bb" >/dev/null 2>&1; then
	echo "busybox-root.sh: $bb is dynamically linked; install busybox-static instead" >&2
	exit 1
fi

mkdir -p "$dir"
cd "$dir"
mkdir -p bin sbin usr/bin usr/sbin etc proc dev sys tmp root home var/tmp run
chmod 1777 tmp var/tmp
chmod 0700 root

# Copy through a temporary name so a jail running the old binary never sees a
# half-written one.
cp "$bb" bin/.busybox.new
chmod 0755 bin/.busybox.new
mv -f bin/.busybox.new bin/busybox

# --install -s resolves the link targets against the host's /proc/self/exe,
# so run the copy through chroot: the links then point at /bin/busybox as the
# jail sees it. chroot needs root; without it fall back to the applet list.
if [ "$(id -u)" -eq 0 ]; then
	chroot . /bin/busybox --install -s
else
	set -f
	for applet in $(bin/busybox --list-full); do
		[ -e "$applet" ] || [ -L "$applet" ] || ln -s /bin/busybox "$applet"
	done
fi

# Written every time so a run always sees exactly these accounts.
cat >etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >etc/group <<'EOF'
root:x:0:
tty:x:5:
nogroup:x:65534:
nobody:x:65534:
EOF
chmod 0644 etc/passwd etc/group
