#!/usr/bin/env bash
# One command from a fresh Debian/Ubuntu machine to a graded sample submission.
#   ./setup.sh            toolchain + grader in .venv, then grade the sample submission
#   ./setup.sh --docker   also the docker engine and the grading image (built offline)
set -euo pipefail
cd "$(dirname "$0")"

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# gcc/clang/make/libc6-dev build student code (ncurses-bin: the tput and clear that students'
# Makefiles call); strace traces it; patch applies mutants;
# util-linux (unshare, prlimit), procps (kill) and iproute2 (ip) serve the local sandbox;
# chromium opens the HTML report in the tests (tests/test_render_html.py), without network.
# git fetches pushed commits for `grade serve` (and `git daemon` serves them in its tests).
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends gcc clang make libc6-dev ncurses-bin \
    strace patch git \
    util-linux procps iproute2 python3 python3-venv python3-pip ca-certificates \
    chromium >/dev/null

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

if [ "${1:-}" = "--docker" ]; then
    bash docker/start-dockerd.sh
    bash docker/build-base-image.sh
    bash docker/build-image.sh
fi

echo "== grading the sample submission (examples/assignment1-sample) =="
.venv/bin/grade assignment1 examples/assignment1-sample || true
echo "== done: activate with 'source .venv/bin/activate', then 'grade list' =="
