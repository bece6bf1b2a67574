#!/usr/bin/env bash
# Build the grading base image from Debian packages, without any registry.
#
#   docker/build-base-image.sh [--force]
#
# debootstraps a Debian bookworm "minbase" with the toolchain and Python
# packages the grader needs, applies bookworm-updates and bookworm-security,
# strips caches and docs, and imports the tree as $BASE_IMAGE
# (default ipc-grader-base:bookworm). Does nothing when that image already
# exists, unless --force.
#
# Needs: root, a running docker engine (docker/start-dockerd.sh), and the
# Debian mirror (the one apt on this machine uses, or $DEBIAN_MIRROR).
# No container registry is contacted, so the same script works on a site
# that has registry access and on one that has none.
#
# Environment:
#   BASE_IMAGE        image name to create      (ipc-grader-base:bookworm)
#   DEBIAN_MIRROR     Debian archive URL         (from /etc/apt/sources*)
#   DEBIAN_SECURITY   security archive URL       (from /etc/apt/sources*)
#   WORK_DIR          scratch folder for the root tree (a fresh one in /var/tmp)
#   SKIP_UPGRADE=1    do not apply bookworm-updates / bookworm-security
set -euo pipefail

BASE_IMAGE=${BASE_IMAGE:-ipc-grader-base:bookworm}
SUITE=bookworm
ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)

# What the grading image needs that Debian packages (util-linux, which gives
# runuser, is Essential and always present).
PACKAGES=(
    gcc make libc6-dev       # build student programs
    clang                    # Makefiles that say CC = clang (as a student's terminal has it)
    ncurses-bin              # tput and clear, which students' Makefiles call
    strace                   # syscall traces
    patch diffutils          # mutants: patch -p1
    procps                   # ps, pkill for debugging stuck runs
    python3 python3-pip      # the grader; pip installs the offline wheels
    python3-yaml python3-jinja2 python3-pexpect python3-pytest
)

say() { printf 'build-base-image: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

force=0
for arg in "$@"; do
    case $arg in
        --force) force=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$arg' (usage: $0 [--force])" ;;
    esac
done

docker info >/dev/null 2>&1 || die "no docker engine answers; start one with docker/start-dockerd.sh"
# The package list, as a label: an image made from another list is rebuilt.
packages_id=$(printf '%s\n' "${PACKAGES[@]}" | sha256sum | cut -c1-16)
if ((!force)) && [[ $(docker image inspect --format '{{index .Config.Labels "ipc-grader.packages"}}' \
        "$BASE_IMAGE" 2>/dev/null) == "$packages_id" ]]; then
    say "$BASE_IMAGE already exists with these packages: nothing to do (use --force to rebuild)"
    exit 0
fi
[[ $(id -u) -eq 0 ]] || die "debootstrap needs root (run: sudo $0)"

# The URIs apt uses on this machine for the main archive and for security
# updates: one-line format (sources.list) and deb822 (*.sources).
apt_uris() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -r $f ]] && awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { print $i; break } }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -r $f ]] && awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f"
    done
    return 0
}
uris=$(apt_uris | sed 's:/*$::')
if [[ -z ${DEBIAN_MIRROR:-} ]]; then
    DEBIAN_MIRROR=$(grep -E '/debian$' <<<"$uris" | head -n1 || true)
    DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
fi
if [[ -z ${DEBIAN_SECURITY:-} ]]; then
    DEBIAN_SECURITY=$(grep -E '/debian-security$' <<<"$uris" | head -n1 || true)
    DEBIAN_SECURITY=${DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
fi

# apt inside the image needs CA certificates when the mirror is https.
[[ "$DEBIAN_MIRROR $DEBIAN_SECURITY" == *https://* ]] && PACKAGES+=(ca-certificates)

if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -y -q install debootstrap >/dev/null \
        || die "could not install debootstrap (apt-get install debootstrap)"
fi

WORK_DIR=${WORK_DIR:-$(mktemp -d /var/tmp/ipc-grader-base.XXXXXX)}
root=$WORK_DIR/rootfs
mounted=()
cleanup() {
    local m
    for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$WORK_DIR"
}
trap cleanup EXIT
rm -rf --one-file-system "$root"

start=$SECONDS
include=$(printf '%s\n' "${PACKAGES[@]}" | paste -sd, -)
say "debootstrap $SUITE ($ARCH, minbase) from $DEBIAN_MIRROR into $root"
if ! debootstrap --variant=minbase --arch="$ARCH" --include="$include" \
        "$SUITE" "$root" "$DEBIAN_MIRROR" >"$WORK_DIR/debootstrap.log" 2>&1; then
    tail -n 20 "$WORK_DIR/debootstrap.log" >&2
    [[ -r $root/debootstrap/debootstrap.log ]] && tail -n 20 "$root/debootstrap/debootstrap.log" >&2
    trap - EXIT  # keep the tree and logs for the post-mortem
    die "debootstrap failed; logs kept in $WORK_DIR"
fi

cat >"$root/etc/apt/sources.list" <<EOF
deb $DEBIAN_MIRROR $SUITE main
deb $DEBIAN_MIRROR $SUITE-updates main
deb $DEBIAN_SECURITY $SUITE-security main
EOF

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$@"; }
if [[ ${SKIP_UPGRADE:-0} != 1 ]]; then
    say "applying $SUITE-updates and $SUITE-security"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    mount -t proc proc "$root/proc" && mounted+=("$root/proc")
    in_root apt-get -q update >"$WORK_DIR/upgrade.log" 2>&1 \
        && in_root apt-get -q -y -o Dpkg::Options::=--force-confold upgrade >>"$WORK_DIR/upgrade.log" 2>&1 \
        || { tail -n 20 "$WORK_DIR/upgrade.log" >&2; die "apt-get upgrade inside the new root failed"; }
    umount "$root/proc" && mounted=()
fi

# Slim down: package caches, apt lists, docs and man pages (students read the
# handout, not /usr/share/doc), and host-specific files.
in_root apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
       "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old \
       "$root"/var/log/* "$root"/tmp/* "$root"/var/tmp/* \
       "$root"/root/.cache "$root"/debootstrap
find "$root"/usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
find "$root"/usr/share/doc -mindepth 1 -type d -empty -delete
rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
: >"$root/etc/resolv.conf"
echo ipc-grader >"$root/etc/hostname"
# Keep docs out of later `apt-get install`s too.
cat >"$root/etc/dpkg/dpkg.cfg.d/01-nodoc" <<'EOF'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
EOF

say "importing as $BASE_IMAGE"
tar --numeric-owner --xattrs -C "$root" --exclude=./dev/* --exclude=./proc/* --exclude=./sys/* -c . \
    | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["/bin/bash"]' \
        --change "LABEL org.opencontainers.image.title=ipc-grader-base org.opencontainers.image.base.name=debian:$SUITE ipc-grader.debian-mirror=$DEBIAN_MIRROR ipc-grader.packages=$packages_id" \
        --message "debootstrap $SUITE minbase + ipc-grader packages" \
        - "$BASE_IMAGE" >/dev/null

size=$(docker image inspect --format '{{.Size}}' "$BASE_IMAGE")
say "built $BASE_IMAGE in $((SECONDS - start))s, size $((size / 1024 / 1024)) MiB"
