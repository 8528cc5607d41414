#!/usr/bin/env bash
# oci-validation.sh [options] RUNTIME [OUTDIR]: run the OCI runtime validation
# suite of opencontainers/runtime-tools v0.9.0 against RUNTIME, a command with
# runc's command line (bin/prison, crun, runc), and compare its passes with an
# allowlist (scripts/oci-validation.pass: what crun passes on this machine).
# docs/oci-validation.md says what the suite checks and why some tests fail.
#
# The first run builds the suite into $OCI_VALIDATION_CACHE (default
# bin/tools/runtime-tools-v0.9.0): runtimetest (static), one binary per
# validation/*/ test, and the bundle's rootfs-amd64.tar.gz, made from Debian's
# busybox-static. Later runs reuse it. It needs Go and the Go module proxy once,
# root always.
#
# Each test binary runs, one at a time, in a directory of its own, with a
# timeout, in PID and mount namespaces of its own (when it ends, the kernel
# kills whatever it left running; a container that shares its mounts cannot
# change the host's), with RUNTIME set to a wrapper that logs the container
# ids. After each, what it left is removed: its containers (kill, delete
# --force), the cgroups named after them or after the suite's fixed cgroup
# paths, its bundles. After the run the script checks that nothing is left,
# and fails if something is.
#
# A pass is a test point ("ok", not SKIP nor TODO) of a test binary that
# exited 0, keyed "NAME.t: DESCRIPTION" (" [2]" and on after a description
# that repeats; "NAME.t:" for an empty one), or a whole binary, keyed
# "NAME.t": it exited 0 and printed no "not ok", all its plan, and no error
# diagnostic in place of test points (the suite's hook tests report a failure
# that way). The allowlist has one key a line; # starts a comment.
#
# Options:
#   -a, --allowlist FILE   expected passes, one a line (default
#                          scripts/oci-validation.pass; "none": no check)
#   -l, --list-passes      print this run's passes on stdout (the allowlist's
#                          format), the summary on stderr
#   -t, --timeout SEC      for each test binary (default 60)
#   -o, --only 'T1 T2'     run only these tests (names as in validation/, with
#                          or without .t)
#   -c, --cgroup-view V    host, v1, or auto (default): v1 runs each test with
#                          /sys/fs/cgroup/unified hidden, the cgroup v1
#                          hierarchies still there. auto picks v1 for crun on a
#                          hybrid host whose cgroup v2 tree has controllers: crun
#                          1.8 refuses to run there at all
#   -v, --verbose          print every test point, not only the unexpected ones
#   -k, --keep             keep the work directory (bundles, the runtime log)
#   -h, --help
#
# Environment: OCI_VALIDATION_CACHE (the suite's build), OCI_VALIDATION_TIMEOUT
# and OCI_VALIDATION_TESTS (defaults of --timeout and --only), GO (the go
# command), BUSYBOX (default /bin/busybox, a static one), TMPDIR (where the
# run's work directory goes).
#
# OUTDIR (default build/oci-validation/NAME, NAME the runtime's base name) gets
# each binary's TAP output (NAME.tap) and stderr (NAME.stderr), results.tsv
# (every test point: status, key), passes (this run's passes), regressions (the
# expected passes that did not pass) and summary.tap.
#
# Exit status: 0 when every expected pass passed (with --allowlist none: when
# the suite ran), 1 when one did not or something was left behind, 2 on bad
# usage or when the suite could not be built or run.
set -euo pipefail

RT_VERSION=v0.9.0
RT_MODULE=github.com/opencontainers/runtime-tools
# The h1: hash of the module zip the Go checksum database records for v0.9.0.
RT_SUM='h1:FYgwVsKRI/H9hU32MJ/4MLOzXWodKK5zsQavY8NPMkU='
# Bumped whenever what the cache holds is made differently.
RECIPE=1

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
	exit "${1:-2}"
}
die() {
	echo "oci-validation: $*" >&2
	exit 2
}
note() { echo "# $*" >&3; }

allowlist=$here/oci-validation.pass
list_passes=0
timeout=${OCI_VALIDATION_TIMEOUT:-60}
only=${OCI_VALIDATION_TESTS:-}
view=auto
verbose=0
keep=0
while [ $# -gt 0 ]; do
	case $1 in
	-a | --allowlist) allowlist=${2:?}; shift 2 ;;
	--allowlist=*) allowlist=${1#*=}; shift ;;
	-l | --list-passes) list_passes=1; shift ;;
	-t | --timeout) timeout=${2:?}; shift 2 ;;
	--timeout=*) timeout=${1#*=}; shift ;;
	-o | --only) only=${2?}; shift 2 ;;
	--only=*) only=${1#*=}; shift ;;
	-c | --cgroup-view) view=${2:?}; shift 2 ;;
	--cgroup-view=*) view=${1#*=}; shift ;;
	-v | --verbose) verbose=1; shift ;;
	-k | --keep) keep=1; shift ;;
	-h | --help) usage 0 ;;
	--) shift; break ;;
	-*) echo "oci-validation: unknown option $1" >&2; usage 2 ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] && [ $# -le 2 ] || usage 2
case $view in host | v1 | auto) ;; *) die "--cgroup-view: host, v1 or auto, not $view" ;; esac
case $timeout in '' | *[!0-9]*) die "--timeout: seconds, not $timeout" ;; esac

# The summary goes to fd 3: stdout, or stderr when stdout gets the passes.
if [ "$list_passes" = 1 ]; then exec 3>&2; else exec 3>&1; fi

[ "$(id -u)" -eq 0 ] || die "the suite creates containers: run it as root"
for tool in unshare timeout tar awk findmnt; do
	command -v "$tool" >/dev/null || die "$tool not found"
done

runtime_arg=$1
if [[ $runtime_arg == */* ]]; then
	runtime=$(cd "$(dirname "$runtime_arg")" 2>/dev/null && pwd)/$(basename "$runtime_arg") ||
		die "$runtime_arg not found"
else
	runtime=$(command -v "$runtime_arg") || die "$runtime_arg not found on PATH"
fi
[ -x "$runtime" ] || die "$runtime is not an executable"
rtname=$(basename "$runtime")
runtime_shown=$runtime
outdir=${2:-$repo/build/oci-validation/$rtname}
if [ "$allowlist" != none ]; then
	[ -r "$allowlist" ] || die "allowlist $allowlist not readable (--allowlist none runs without one)"
	allowlist=$(cd "$(dirname "$allowlist")" && pwd)/$(basename "$allowlist")
fi

# --- the suite, built once into the cache -------------------------------------

cache=${OCI_VALIDATION_CACHE:-$repo/bin/tools/runtime-tools-$RT_VERSION}
stamp="runtime-tools $RT_VERSION recipe $RECIPE"

# runtime-tools v0.9.0 predates Go modules (it vendored with Godeps). These pin
# its dependencies to the versions the module proxy has that are closest to
# its Godeps.json: go-selinux v1.2.2 is the last whose label package still has
# FileLabel, which runtimetest calls; runtime-spec v1.0.2 is the first tag
# after the v1.0.1-57 commit it vendored; gocapability's newest commit knows
# the capabilities that kernels since 5.8 have.
write_gomod() {
	cat >"$1/go.mod" <<'EOF'
module github.com/opencontainers/runtime-tools

go 1.18

require (
	github.com/blang/semver v3.5.0+incompatible
	github.com/hashicorp/go-multierror v1.0.0
	github.com/mndrix/tap-go v0.0.0-20171203230836-629fa407e90b
	github.com/mrunalp/fileutils v0.5.1
	github.com/opencontainers/runtime-spec v1.0.2
	github.com/opencontainers/selinux v1.2.2
	github.com/satori/go.uuid v1.2.0
	github.com/sirupsen/logrus v1.9.4
	github.com/stretchr/testify v1.12.1
	github.com/syndtr/gocapability v0.0.0-20200815063812-42c35b437635
	github.com/urfave/cli v1.19.1
	github.com/xeipuuv/gojsonschema v1.1.0
	golang.org/x/sys v0.15.0
)

require (
	github.com/hashicorp/errwrap v1.0.0 // indirect
	github.com/xeipuuv/gojsonpointer v0.0.0-20190905194746-02993c407bfb // indirect
	github.com/xeipuuv/gojsonreference v0.0.0-20180127040603-bd5ef7bd5415 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	gopkg.in/check.v1 v1.0.0-20201130134442-10cb98267c6c // indirect
	gopkg.in/yaml.v2 v2.4.0 // indirect
)
EOF
	cat >"$1/go.sum" <<'EOF'
github.com/blang/semver v3.5.0+incompatible h1:CGxCgetQ64DKk7rdZ++Vfnb1+ogGNnB17OJKJXD2Cfs=
github.com/blang/semver v3.5.0+incompatible/go.mod h1:kRBLl5iJ+tD4TcOOxsy/0fnwebNt5EWlYSAyrTnjyyk=
github.com/hashicorp/errwrap v1.0.0 h1:hLrqtEDnRye3+sgx6z4qVLNuviH3MR5aQ0ykNJa/UYA=
github.com/hashicorp/errwrap v1.0.0/go.mod h1:YH+1FKiLXxHSkmPseP+kNlulaMuP3n2brvKWEqk/Jc4=
github.com/hashicorp/go-multierror v1.0.0 h1:iVjPR7a6H0tWELX5NxNe7bYopibicUzc7uPribsnS6o=
github.com/hashicorp/go-multierror v1.0.0/go.mod h1:dHtQlpGsu+cZNNAkkCN/P3hoUDHhCYQXV3UM06sGGrk=
github.com/kr/pretty v0.2.1 h1:Fmg33tUaq4/8ym9TJN1x7sLJnHVwhP33CNkpYV/7rwI=
github.com/kr/pretty v0.2.1/go.mod h1:ipq/a2n7PKx3OHsz4KJII5eveXtPO4qwEXGdVfWzfnI=
github.com/kr/pty v1.1.1/go.mod h1:pFQYn66WHrOpPYNljwOMqo10TkYh1fy3cYio2l3bCsQ=
github.com/kr/text v0.1.0 h1:45sCR5RtlFHMR4UwH9sdQ5TC8v0qDQCHnXt+kaKSTVE=
github.com/kr/text v0.1.0/go.mod h1:4Jbv+DJW3UT/LiOwJeYQe1efqtUx/iVham/4vfdArNI=
github.com/mndrix/tap-go v0.0.0-20171203230836-629fa407e90b h1:Ga1nclDSe8gOw37MVLMhfu2QKWtD6gvtQ298zsKVh8g=
github.com/mndrix/tap-go v0.0.0-20171203230836-629fa407e90b/go.mod h1:pzzDgJWZ34fGzaAZGFW22KVZDfyrYW+QABMrWnJBnSs=
github.com/mrunalp/fileutils v0.5.1 h1:F+S7ZlNKnrwHfSwdlgNSkKo67ReVf8o9fel6C3dkm/Q=
github.com/mrunalp/fileutils v0.5.1/go.mod h1:M1WthSahJixYnrXQl/DFQuteStB1weuxD2QJNHXfbSQ=
github.com/opencontainers/runtime-spec v1.0.2 h1:UfAcuLBJB9Coz72x1hgl8O5RVzTdNiaglX6v2DM6FI0=
github.com/opencontainers/runtime-spec v1.0.2/go.mod h1:jwyrGlmzljRJv/Fgzds9SsS/C5hL+LL3ko9hs6T5lQ0=
github.com/opencontainers/selinux v1.2.2 h1:Kx9J6eDG5/24A6DtUquGSpJQ+m2MUTahn4FtGEe8bFg=
github.com/opencontainers/selinux v1.2.2/go.mod h1:+BLncwf63G4dgOzykXAxcmnFlUaOlkDdmw/CqsW6pjs=
github.com/satori/go.uuid v1.2.0 h1:0uYX9dsZ2yD7q2RtLRtPSdGDWzjeM3TbMJP9utgA0ww=
github.com/satori/go.uuid v1.2.0/go.mod h1:dA0hQrYB0VpLJoorglMZABFdXlWrHn1NEOzdhQKdks0=
github.com/sirupsen/logrus v1.9.4 h1:TsZE7l11zFCLZnZ+teH4Umoq5BhEIfIzfRDZ1Uzql2w=
github.com/sirupsen/logrus v1.9.4/go.mod h1:ftWc9WdOfJ0a92nsE2jF5u5ZwH8Bv2zdeOC42RjbV2g=
github.com/stretchr/testify v1.12.1 h1:EuwCh5fleGS7H32xRwO3wRGT7DxrDhLAT6FF8MpWDWE=
github.com/stretchr/testify v1.12.1/go.mod h1:MDEgiDPPsNp5cuIrHPPCyornHKgEVbtFUmoNlxoYthg=
github.com/syndtr/gocapability v0.0.0-20200815063812-42c35b437635 h1:kdXcSzyDtseVEc4yCz2qF8ZrQvIDBJLl4S1c3GCXmoI=
github.com/syndtr/gocapability v0.0.0-20200815063812-42c35b437635/go.mod h1:hkRG7XYTFWNJGYcbNJQlaLq0fg1yr4J4t/NcTQtrfww=
github.com/urfave/cli v1.19.1 h1:0mKm4ZoB74PxYmZVua162y1dGt1qc10MyymYRBf3lb8=
github.com/urfave/cli v1.19.1/go.mod h1:70zkFmudgCuE/ngEzBv17Jvp/497gISqfk5gWijbERA=
github.com/xeipuuv/gojsonpointer v0.0.0-20190905194746-02993c407bfb h1:zGWFAtiMcyryUHoUjUJX0/lt1H2+i2Ka2n+D3DImSNo=
github.com/xeipuuv/gojsonpointer v0.0.0-20190905194746-02993c407bfb/go.mod h1:N2zxlSyiKSe5eX1tZViRH5QA0qijqEDrYZiPEAiq3wU=
github.com/xeipuuv/gojsonreference v0.0.0-20180127040603-bd5ef7bd5415 h1:EzJWgHovont7NscjpAxXsDA8S8BMYve8Y5+7cuRE7R0=
github.com/xeipuuv/gojsonreference v0.0.0-20180127040603-bd5ef7bd5415/go.mod h1:GwrjFmJcFw6At/Gs6z4yjiIwzuJ1/+UwLxMQDVQXShQ=
github.com/xeipuuv/gojsonschema v1.1.0 h1:ngVtJC9TY/lg0AA/1k48FYhBrhRoFlEmWzsehpNAaZg=
github.com/xeipuuv/gojsonschema v1.1.0/go.mod h1:5yf86TLmAcydyeJq5YvxkGPE2fm/u4myDekKRoLuqhs=
go.yaml.in/yaml/v3 v3.0.5 h1:N6y/pJk8buWs9NY5ERU2HSMfm+IuD/OtfdAnq6kESPw=
go.yaml.in/yaml/v3 v3.0.5/go.mod h1:HVTZu1O7/Vkt2N+BFy8Zza+lnLsABggaTM2ZpNIGuKg=
golang.org/x/sys v0.15.0 h1:h48lPFYpsTvQJZF4EKyI4aLHaev3CxivZmv7yZig9pc=
golang.org/x/sys v0.15.0/go.mod h1:/VUhepiaJMQUp4+oa/7Zr1D23ma6VTLIYjOOTFZPUcA=
gopkg.in/check.v1 v0.0.0-20161208181325-20d25e280405/go.mod h1:Co6ibVJAznAaIkqp8huTwlJQCZ016jof/cbN4VW5Yz0=
gopkg.in/check.v1 v1.0.0-20201130134442-10cb98267c6c h1:Hei/4ADfdWqJk1ZMxUNpqntNwaWcugrBjAiHlqqRiVk=
gopkg.in/check.v1 v1.0.0-20201130134442-10cb98267c6c/go.mod h1:JHkPIbrfpd72SG/EVd6muEfDQjcINNoR0C8j2r3qZ4Q=
gopkg.in/yaml.v2 v2.4.0 h1:D8xgwECY7CYvx+Y2n4sBz93Jn9JRvxdiyyo8CTfuKaY=
gopkg.in/yaml.v2 v2.4.0/go.mod h1:RDklbk79AGWmwhnvt/jBztapEOGDOx6ZbXqjP6csGnQ=
EOF
}

# The bundle's root, as the suite's own rootfs-amd64.tar.gz lays it out
# (bin/ with busybox and its applets, dev, proc, sys, etc with passwd and
# group), from Debian's busybox-static. The applet links are relative: the
# suite's hooks run the bundle's bin/sh from the host.
make_rootfs() {
	local tarball=$1 bb=${BUSYBOX:-/bin/busybox} dir
	[ -x "$bb" ] || die "$bb not found; install it with: apt-get install -y busybox-static"
	if ldd "$bb" >/dev/null 2>&1; then
		die "$bb is dynamically linked; install busybox-static instead"
	fi
	dir=$(mktemp -d "$cache/rootfs.XXXXXX")
	mkdir -p "$dir/bin" "$dir/dev" "$dir/proc" "$dir/sys" "$dir/etc"
	cp "$bb" "$dir/bin/busybox"
	chmod 0755 "$dir" "$dir/bin/busybox"
	local applet
	for applet in $("$bb" --list); do
		[ "$applet" = busybox ] || ln -s busybox "$dir/bin/$applet"
	done
	printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' \
		'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$dir/etc/passwd"
	printf '%s\n' 'root:x:0:' 'tty:x:5:' 'nogroup:x:65534:' 'nobody:x:65534:' >"$dir/etc/group"
	tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
		-C "$dir" -czf "$tarball.new" .
	mv "$tarball.new" "$tarball"
	rm -rf "$dir"
}

build_suite() {
	local go=${GO:-}
	if [ -z "$go" ]; then
		go=$(command -v go 2>/dev/null || echo /usr/local/go/bin/go)
	fi
	[ -x "$go" ] || die "go not found (set GO, or install Go at /usr/local/go)"
	note "building runtime-tools $RT_VERSION into $cache"
	rm -rf "$cache"
	mkdir -p "$cache"
	local json dir sum
	# From outside any module (the cache may be inside prison's tree).
	json=$(cd / && GOFLAGS= GOWORK=off "$go" mod download -json "$RT_MODULE@$RT_VERSION") ||
		die "go mod download $RT_MODULE@$RT_VERSION failed"
	dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
	sum=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Sum": "\(.*\)",*$/\1/p')
	[ "$sum" = "$RT_SUM" ] || die "$RT_MODULE@$RT_VERSION: module sum $sum, expected $RT_SUM"
	[ -d "$dir" ] || die "$RT_MODULE@$RT_VERSION: no source directory in the module cache"
	cp -r "$dir" "$cache/src"
	chmod -R u+w "$cache/src"
	write_gomod "$cache/src"
	mkdir -p "$cache/validation"
	# runtimetest runs inside the container: static. The test binaries run
	# on the host; static too, which costs nothing. No symbols: 58 binaries
	# of 4.5 MB rather than 6.8.
	(cd "$cache/src" && CGO_ENABLED=0 GOFLAGS=-mod=readonly GOWORK=off "$go" build -trimpath \
		-ldflags "-s -w -X main.version=${RT_VERSION#v}" -o "$cache/runtimetest" ./cmd/runtimetest) ||
		die "building runtimetest failed"
	local pkgs=() d
	for d in "$cache"/src/validation/*/; do
		d=$(basename "$d")
		[ "$d" = util ] || pkgs+=("./validation/$d")
	done
	(cd "$cache/src" && CGO_ENABLED=0 GOFLAGS=-mod=readonly GOWORK=off "$go" build -trimpath -ldflags "-s -w" \
		-o "$cache/validation/" "${pkgs[@]}") || die "building the validation tests failed"
	for d in "${pkgs[@]}"; do
		d=$(basename "$d")
		mv "$cache/validation/$d" "$cache/validation/$d.t"
	done
	make_rootfs "$cache/rootfs-amd64.tar.gz"
	echo "$stamp" >"$cache/.stamp"
}

if [ "$(cat "$cache/.stamp" 2>/dev/null)" != "$stamp" ]; then
	build_suite
fi

tests=()
if [ -n "$only" ]; then
	for t in $only; do
		t=${t%.t}
		[ -x "$cache/validation/$t.t" ] || die "no test $t in $cache/validation"
		tests+=("$t")
	done
else
	for t in "$cache"/validation/*.t; do
		t=$(basename "$t" .t)
		tests+=("$t")
	done
fi

# --- the cgroup view --------------------------------------------------------

hybrid_v2_controllers() {
	[ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = tmpfs ] &&
		[ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ] &&
		[ -n "$(tr -d '[:space:]' </sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)" ]
}
rtversion=$("$runtime" --version 2>/dev/null | head -n 1) || rtversion="(--version failed)"
if [ "$view" = auto ]; then
	view=host
	if [[ $rtversion == crun* ]] && hybrid_v2_controllers; then
		view=v1
	fi
fi

# --- the run ----------------------------------------------------------------

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
rm -f "$outdir"/*.tap "$outdir"/*.stderr "$outdir"/*.left "$outdir/results.tsv" "$outdir/passes" "$outdir/regressions" \
	"$outdir/summary.tap" "$outdir/runtime.log"
work=$(mktemp -d "${TMPDIR:-/tmp}/oci-validation.XXXXXX")
# Others may pass through, not list: the suite's user-namespace tests map the
# container's root to uid 1000, which must reach the bundle.
chmod 0711 "$work"
start_stamp=$work/start
touch "$start_stamp"
start_time=$(date +%s)

# Each test runs in a PID namespace of its own, the init of which (the ns
# script) reaps what is orphaned there, as the host's init would: when the test
# ends, or its timeout kills it, the kernel kills every process it left,
# containers included, and no process of anyone else. And in a mount namespace
# of its own, in the cgroup view the run asked for: a container that shares
# the test's mounts (the suite makes some) cannot change the host's.
cat >"$work/ns" <<'EOF'
#!/bin/sh
# ns VIEW CMD...: run CMD and wait. With VIEW v1, /sys/fs/cgroup is first a
# tmpfs with the host's cgroup v1 hierarchies bound in again, and no unified/.
set -e
view=$1
shift
if [ "$view" = v1 ]; then
	save=$(mktemp -d)
	mount --rbind /sys/fs/cgroup "$save"
	mount -t tmpfs -o mode=0755 cgroup /sys/fs/cgroup
	for d in "$save"/*; do
		name=${d##*/}
		if [ -L "$d" ]; then
			ln -s "$(readlink "$d")" "/sys/fs/cgroup/$name"
		elif [ -d "$d" ] && [ "$(stat -f -c %T "$d")" = cgroupfs ]; then
			mkdir "/sys/fs/cgroup/$name"
			mount --bind "$d" "/sys/fs/cgroup/$name"
		fi
	done
	umount -l "$save"
	rmdir "$save"
	mount -o remount,ro /sys/fs/cgroup
fi
set +e
"$@"
EOF
chmod 0755 "$work/ns"
ns() {
	unshare --pid --fork --kill-child --mount-proc --propagation private "$work/ns" "$view" "$@"
}
# For the runtime's state, kill and delete after a test: in a PID namespace
# too, where the PID the runtime recorded, which was the test's, is no one's.
in_ns() { TMPDIR=$work ns "$@"; }

# prison takes runc's command line under the name prison-oci (or with one of
# runc's global options first): run bin/prison through such a link.
if [ "$rtname" = prison ]; then
	ln -s "$runtime" "$work/prison-oci"
	runtime=$work/prison-oci
fi

# RUNTIME for the tests: logs each call, then runs the runtime.
cat >"$work/runtime" <<EOF
#!/bin/sh
printf '%s\n' "\$*" >>$(printf %q "$work/runtime.log")
exec $(printf %q "$runtime") "\$@"
EOF
chmod 0755 "$work/runtime"
: >"$work/runtime.log"

uuid_re='[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
leftover=()

# Cgroups a test made: named after a container it created, or the suite's
# own /cgrouptest and testdir/cgrouptest/container (validation/util's
# cgroups.AbsCgroupPath and RelCgroupPath), made since the run started.
stray_cgroups() {
	local ids=$1
	{
		find /sys/fs/cgroup -mindepth 1 -maxdepth 6 -type d -newer "$start_stamp" \
			\( -name cgrouptest -o -name testdir \) -print 2>/dev/null
		if [ -s "$ids" ]; then
			find /sys/fs/cgroup -mindepth 1 -maxdepth 6 -type d -newer "$start_stamp" \
				-regextype egrep -regex ".*/$uuid_re" -print 2>/dev/null |
				grep -F -f "$ids" || true
		fi
	} | sort -u
}

kill_cgroup() {
	local cg=$1 sub pids i
	# Deepest first: a cgroup with children cannot go.
	for sub in $(find "$cg" -depth -type d 2>/dev/null); do
		for i in 1 2 3 4 5 6 7 8 9 10; do
			pids=$(cat "$sub/cgroup.procs" 2>/dev/null) || break
			[ -n "$pids" ] || break
			# shellcheck disable=SC2086
			kill -KILL $pids 2>/dev/null || true
			sleep 0.1
		done
		rmdir "$sub" 2>/dev/null || true
	done
}

# The containers of those in file IDS that the runtime still knows.
existing_containers() {
	[ -s "$1" ] || return 0
	# shellcheck disable=SC2016
	in_ns sh -c 'rt=$1; shift; for id; do "$rt" state "$id" >/dev/null 2>&1 && echo "$id"; done; true' \
		sh "$runtime" $(cat "$1")
}

# cleanup_test NAME DIR: remove what test NAME left (its processes are gone
# with its PID namespace); report what it left, and what could not be removed.
cleanup_test() {
	local name=$1 dir=$2 ids=$2/ids found=() id cg m
	# The ids of the containers it created (the last word of each create).
	awk '$1 == "create" { print $NF }' "$work/runtime.log.$name" 2>/dev/null |
		grep -E -x "$uuid_re" | sort -u >"$ids" || true
	for id in $(existing_containers "$ids"); do
		found+=("container $id")
	done
	if [ "${#found[@]}" -gt 0 ]; then
		# shellcheck disable=SC2016
		in_ns sh -c 'rt=$1; shift; for id; do
			"$rt" kill "$id" KILL
			"$rt" delete --force "$id" || { sleep 0.5; "$rt" delete --force "$id"; }
		done' sh "$runtime" $(existing_containers "$ids") >/dev/null 2>&1
		for id in $(existing_containers "$ids"); do
			leftover+=("$name.t: container $id (delete --force failed)")
		done
	fi
	for cg in $(stray_cgroups "$ids"); do
		[ -d "$cg" ] || continue
		found+=("cgroup ${cg#/sys/fs/cgroup/}")
		kill_cgroup "$cg"
	done
	# Mounts under the work directory in the host's namespace (none should
	# be: the tests ran in their own).
	for m in $(findmnt -rn -o TARGET | grep -F "$work/" | sort -r); do
		found+=("mount $m")
		umount -l "$m" 2>/dev/null || true
	done
	if [ "${#found[@]}" -gt 0 ]; then
		printf '%s\n' "${found[@]}" >"$outdir/$name.left"
		[ "$verbose" = 0 ] || printf '    # left behind, removed: %s\n' "${found[@]}" >&3
	fi
	# --one-file-system: never into a mount a runtime may have left there.
	rm -rf --one-file-system "$dir" 2>/dev/null || true
	if [ -e "$dir" ]; then
		leftover+=("$name: $dir could not be removed")
	fi
}

# Parse NAME's TAP output: one line per test point (status, key, line), then
# END points plan bail yaml-before-any-point.
parse_tap() {
	awk -v bin="$1.t" '
	/^(not )?ok([ \t]|$)/ {
		st = ($0 ~ /^not /) ? "fail" : "pass"
		d = $0
		sub(/^(not )?ok[ \t]*/, "", d); sub(/^[0-9]+[ \t]*/, "", d); sub(/^-[ \t]*/, "", d)
		if (match(d, /^# *[Ss][Kk][Ii][Pp]/) || match(d, /[ \t]#[ \t]*[Ss][Kk][Ii][Pp]([ \t]|$)/)) { st = "skip" }
		else if (match(d, /^# *[Tt][Oo][Dd][Oo]/) || match(d, /[ \t]#[ \t]*[Tt][Oo][Dd][Oo]([ \t]|$)/)) { st = "todo" }
		sub(/[ \t]+$/, "", d)
		n[d]++
		key = bin ":" (d == "" ? "" : " " d)
		if (n[d] > 1) key = key " [" n[d] "]"
		print st "\t" key "\t" $0
		points++
		next
	}
	/^1\.\.[0-9]+/ { plan = substr($0, 4) + 0; hasplan = 1; next }
	/^Bail out!/ { bail = 1; next }
	/^[ \t]+---/ { if (points == 0) yaml = 1 }
	END { print "END\t" points + 0 "\t" (hasplan ? plan : -1) "\t" bail + 0 "\t" yaml + 0 }
	' "$2"
}

# --- the allowlist ----------------------------------------------------------

declare -A expected=()
declare -A expected_in=() # binary -> its expected test points, a line each
if [ "$allowlist" != none ]; then
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line%"${line##*[![:space:]]}"}
		case $line in '' | '#'*) continue ;; esac
		expected[$line]=1
		case $line in *.t:*) expected_in[${line%%:*}]+="${line}"$'\n' ;; esac
	done <"$allowlist"
fi
declare -A ran=()
for t in "${tests[@]}"; do ran[$t.t]=1; done
n_expected=0
for k in "${!expected[@]}"; do
	b=${k%%:*}
	[ -n "${ran[$b]:-}" ] && n_expected=$((n_expected + 1))
done

{
	echo "TAP version 13"
	echo "# $RT_MODULE $RT_VERSION against $runtime_arg ($runtime_shown): $rtversion"
	[ "$view" = host ] || echo "# cgroup view v1: /sys/fs/cgroup/unified hidden (crun 1.8 refuses hybrid cgroups whose v2 tree has controllers)"
	echo "1..${#tests[@]}"
} | tee "$outdir/summary.tap" >&3

current_pg=
on_signal() {
	trap '' INT TERM HUP
	if [ -n "$current_pg" ]; then
		kill -KILL -- "-$current_pg" 2>/dev/null || true
		wait "$current_pg" 2>/dev/null || true
		cp "$work/runtime.log" "$work/runtime.log.$t" 2>/dev/null || true
		cleanup_test "$t" "$dir" || true
	fi
	echo "oci-validation: interrupted" >&2
	exit 2
}
trap on_signal INT TERM HUP
on_exit() {
	if [ "$keep" = 1 ]; then
		echo "# work directory kept: $work" >&2
	else
		rm -rf --one-file-system "$work" 2>/dev/null || true
	fi
}
trap on_exit EXIT

n=0
bin_ok=0 bin_fail=0
c_pass=0 c_fail=0 c_skip=0 c_void=0
x_pass=0 x_fail=0 x_new=0
: >"$outdir/results.tsv"
: >"$outdir/passes"
for t in "${tests[@]}"; do
	n=$((n + 1))
	dir=$work/t/$t
	mkdir -p "$dir/tmp"
	# The suite looks for runtimetest and rootfs-$GOARCH.tar.gz in its
	# working directory; it copies runtimetest into each bundle.
	ln "$cache/runtimetest" "$dir/runtimetest" 2>/dev/null || cp "$cache/runtimetest" "$dir/runtimetest"
	ln -s "$cache/rootfs-amd64.tar.gz" "$dir/rootfs-amd64.tar.gz"
	: >"$work/runtime.log"
	t0=$(date +%s%N)
	# timeout puts itself and the test in a process group of their own and
	# kills the whole group when time is up.
	(cd "$dir" && export TMPDIR="$dir/tmp" RUNTIME="$work/runtime" &&
		exec timeout --kill-after=5 "$timeout" unshare --pid --fork --kill-child --mount-proc \
			--propagation private "$work/ns" "$view" "$cache/validation/$t.t") \
		>"$outdir/$t.tap" 2>"$outdir/$t.stderr" </dev/null &
	current_pg=$!
	rc=0
	wait "$current_pg" || rc=$?
	current_pg=
	t1=$(date +%s%N)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
	cp "$work/runtime.log" "$work/runtime.log.$t"
	cat "$work/runtime.log" >>"$outdir/runtime.log" 2>/dev/null || true

	points=0 plan=-1 bail=0 yaml=0
	p=0 f=0 s=0 v=0
	bad=()     # expected passes that did not pass
	lines=()   # test points to show
	declare -A seen=()
	while IFS=$'\t' read -r st key line; do
		if [ "$st" = END ]; then
			read -r points plan bail yaml <<<"$key $line"
			continue
		fi
		printf '%s\t%s\n' "$st" "$key" >>"$outdir/results.tsv"
		seen[$key]=1
		case $st in
		pass)
			if [ "$rc" -ne 0 ]; then
				v=$((v + 1))
				# The test aborted (util.Fatal, a crash, its timeout): what
				# it printed before is no pass. process_capabilities_fail,
				# say, prints runtimetest's checks of a container that
				# should never have been created.
				if [ -n "${expected[$key]:-}" ]; then
					x_fail=$((x_fail + 1)); bad+=("$key")
					lines+=("    $line  # expected to pass; but the test aborted")
				fi
				continue
			fi
			p=$((p + 1))
			echo "$key" >>"$outdir/passes"
			if [ -n "${expected[$key]:-}" ]; then x_pass=$((x_pass + 1)); elif [ "$allowlist" != none ]; then x_new=$((x_new + 1)); fi
			[ "$verbose" = 0 ] || lines+=("    $line")
			;;
		fail)
			f=$((f + 1))
			if [ -n "${expected[$key]:-}" ]; then
				x_fail=$((x_fail + 1)); bad+=("$key")
				lines+=("    $line  # expected to pass")
			elif [ "$verbose" = 1 ]; then
				lines+=("    $line")
			fi
			;;
		*)
			s=$((s + 1))
			if [ -n "${expected[$key]:-}" ]; then
				x_fail=$((x_fail + 1)); bad+=("$key")
				lines+=("    $line  # expected to pass")
			elif [ "$verbose" = 1 ]; then
				lines+=("    $line")
			fi
			;;
		esac
	done < <(parse_tap "$t" "$outdir/$t.tap")
	# Expected passes that the output does not have at all.
	while IFS= read -r k; do
		[ -n "$k" ] && [ -z "${seen[$k]:-}" ] || continue
		x_fail=$((x_fail + 1)); bad+=("$k")
		d=${k#"$t.t:"}
		lines+=("    not ok - ${d# }  # expected to pass, not run")
	done <<<"${expected_in[$t.t]:-}"
	unset seen
	c_pass=$((c_pass + p)) c_fail=$((c_fail + f)) c_skip=$((c_skip + s)) c_void=$((c_void + v))

	why=()
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		why+=("timed out after ${timeout}s")
	elif [ "$rc" -ne 0 ]; then
		why+=("exit status $rc")
	fi
	[ "$bail" = 0 ] || why+=("bailed out")
	[ "$f" = 0 ] || why+=("")
	if [ "$plan" -gt 0 ] && [ "$plan" != "$points" ]; then why+=("planned $plan, ran $points"); fi
	if [ "$points" = 0 ] && [ "$yaml" = 1 ]; then why+=("an error diagnostic"); fi
	counts="$p passed"
	[ "$f" = 0 ] || counts="$counts, $f failed"
	[ "$s" = 0 ] || counts="$counts, $s skipped"
	[ "$v" = 0 ] || counts="$counts, $v ok but void"
	directive=
	if [ "${#why[@]}" -eq 0 ]; then
		bin_ok=$((bin_ok + 1))
		status=ok
		echo "$t.t" >>"$outdir/passes"
		if [ -n "${expected[$t.t]:-}" ]; then
			x_pass=$((x_pass + 1))
		elif [ "$allowlist" != none ]; then
			x_new=$((x_new + 1)); directive=" # not in the allowlist: a new pass"
		fi
	else
		bin_fail=$((bin_fail + 1))
		status="not ok"
		reasons=$(printf '%s\n' "${why[@]}" | sed '/^$/d' | paste -sd, - | sed 's/,/, /g')
		[ -z "$reasons" ] || counts="$counts; $reasons"
		if [ -n "${expected[$t.t]:-}" ]; then
			x_fail=$((x_fail + 1)); bad+=("$t.t")
			directive=" # expected to pass"
		fi
		# A binary that fails where it is not expected to pass, and fails
		# no expected test point, is a known failure.
		if [ "${#bad[@]}" -eq 0 ]; then directive=" # TODO known failure"; fi
	fi
	{
		echo "$status $n - $t.t ($counts; ${secs}s)$directive"
		# At most 10 lines a test: one that aborts may miss hundreds of
		# expected passes. OUTDIR/regressions has them all.
		if [ "${#lines[@]}" -gt 0 ]; then
			printf '%s\n' "${lines[@]:0:10}"
			[ "${#lines[@]}" -le 10 ] || echo "    # and $((${#lines[@]} - 10)) more (${outdir#"$repo/"}/regressions has the expected passes that failed)"
		fi
		if [ "$status" = "not ok" ] && [ "${#bad[@]}" -gt 0 ] && [ -s "$outdir/$t.stderr" ]; then
			tail -n 3 "$outdir/$t.stderr" | sed 's/^/    # stderr: /'
		fi
	} | tee -a "$outdir/summary.tap" >&3
	[ "${#bad[@]}" -eq 0 ] || printf '%s\n' "${bad[@]}" >>"$outdir/regressions"
	# (errexit is off inside it: a process may go while it looks.)
	cleanup_test "$t" "$dir" || true
done

# --- nothing left ------------------------------------------------------------

all_ids=$work/all-ids
grep -oE "$uuid_re" "$outdir/runtime.log" 2>/dev/null | sort -u >"$all_ids" || true
left_files=("$outdir"/*.left)
if [ -e "${left_files[0]}" ]; then
	{
		echo "# the tests left these behind; removed after each test:"
		for f in "${left_files[@]}"; do
			# One line a test: its cgroups grouped by path, each with its
			# hierarchies.
			awk -v t="$(basename "$f" .left).t" '
			$1 == "cgroup" {
				h = $2; sub(/\/.*/, "", h); p = substr($2, length(h) + 2)
				if (!(p in cg)) order[++n] = p
				cg[p] = cg[p] (cg[p] == "" ? "" : ",") h
				next
			}
			{ other = other (other == "" ? "" : "; ") $0 }
			END {
				s = other
				for (i = 1; i <= n; i++) s = s (s == "" ? "" : "; ") "cgroup " order[i] " (" cg[order[i]] ")"
				print "#   " t ": " s
			}' "$f"
		done
	} | tee -a "$outdir/summary.tap" >&3
fi
awk '$1 == "create" { print $NF }' "$outdir/runtime.log" 2>/dev/null | grep -E -x "$uuid_re" | sort -u >"$work/created" || true
for id in $(existing_containers "$work/created"); do leftover+=("container $id"); done
for cg in $(stray_cgroups "$all_ids"); do leftover+=("cgroup $cg"); done
for m in $(findmnt -rn -o TARGET | grep -F "$work/"); do leftover+=("mount $m"); done
for d in "$work"/t/*; do [ -e "$d" ] && leftover+=("directory $d"); done

elapsed=$(($(date +%s) - start_time))
{
	echo "# $rtname: test binaries: $bin_ok ok, $bin_fail not ok; test points: $c_pass passed, $c_fail failed, $c_skip skipped, $c_void ok but void (their test aborted); ${elapsed}s"
	if [ "${#leftover[@]}" -gt 0 ]; then
		echo "# NOT CLEAN: still left after the run:"
		printf '#   %s\n' "${leftover[@]}"
	fi
	if [ "$allowlist" != none ]; then
		echo "# allowlist ${allowlist#"$repo/"}: $n_expected expected passes, $x_pass passed, $x_fail failed; $x_new passes not in it"
		echo "oci-validation: $x_pass passed, $x_fail failed"
	else
		echo "oci-validation: $c_pass passed, $c_fail failed, $c_skip skipped"
	fi
} | tee -a "$outdir/summary.tap" >&3

if [ "$list_passes" = 1 ]; then
	LC_ALL=C sort "$outdir/passes"
fi
status=0
[ "$x_fail" -eq 0 ] || status=1
[ "${#leftover[@]}" -eq 0 ] || status=1
exit "$status"
