#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (after
# `apt-get update`; the zip is unpacked in /autograder/source). It installs only what the
# image lacks, from packages Debian 12 and Ubuntu 22.04/24.04 all have, then the grader from
# the wheels in this zip, offline, and makes this folder root's alone: student programs run
# as other users, and without the right to mount (Gradescope's containers) there is no jail
# to hide the hidden checks and the reference sources from them.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
say() { printf 'setup.sh: %s\n' "$*"; }

have() { command -v "$1" >/dev/null 2>&1; }
# A Python the grader runs on (3.11 or later) that has pip: python3, or a newer one beside it.
find_python() {
    local candidate
    for candidate in python3 python3.13 python3.12 python3.11; do
        if have "$candidate" && "$candidate" -c 'import sys, pip; sys.exit(sys.version_info < (3, 11))' \
                2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

need=()
have gcc || need+=(gcc)
have make || need+=(make)
[[ -e /usr/include/stdio.h ]] || need+=(libc6-dev)
have clang || need+=(clang)          # Makefiles that say CC = clang
have tput || need+=(ncurses-bin)     # Makefiles that call tput or clear
have strace || need+=(strace)
have ps || need+=(procps)
{ have setpriv && have prlimit && have unshare; } || need+=(util-linux)
if ! find_python >/dev/null; then
    have python3 && python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || need+=(python3.11)        # Ubuntu 22.04's python3 is 3.10
    need+=(python3-pip)
fi
if ((${#need[@]})); then
    say "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null || apt-get update -q
    apt-get install -y -q --no-install-recommends "${need[@]}"
else
    say "every package the grader needs is installed already"
fi

interpreter=$(find_python) || { say "error: no Python 3.11 or later with pip"; exit 1; }
say "installing the grader for $interpreter from $here/wheels (offline)"
rm -rf "$here/python"
PIP_ROOT_USER_ACTION=ignore "$interpreter" -m pip install --disable-pip-version-check -q --no-index \
    --find-links "$here/wheels" --target "$here/python" ipc-grader
printf 'PYTHON=%s\n' "$interpreter" >"$here/grader.env"
PYTHONPATH=$here/python GRADER_ROOT=$here "$interpreter" -m grader list
chmod -R go-rwx "$here"
say "done"
