#!/bin/sh
# Install this kit's grader into .venv beside this script: once, with Python 3.11 or later.
# From the wheels in wheels/ alone when they fit this machine (no network needed), else
# with the package index for what is missing. PYTHON=python3.12 ./install.sh picks a Python.
# pip itself comes from wheels/, so Debian's python3-venv package is not needed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "install.sh: the grader needs Python 3.11 or later; $python is" \
         "$("$python" --version 2>&1 || echo missing) (try PYTHON=python3.12 $0)" >&2
    exit 1
fi
rm -rf "$here/.venv"
"$python" -m venv --without-pip "$here/.venv"
want="ipc-grader==@VERSION@"
[ "$(uname -s)" = Linux ] || want="ipc-grader[docker]==@VERSION@"  # macOS, Windows: docker
for wheel in "$here"/wheels/pip-*.whl; do pip_wheel=$wheel; done
install() {  # pip run from its wheel, into the new .venv
    "$here/.venv/bin/python" "$pip_wheel/pip" --disable-pip-version-check -q install \
        --find-links "$here/wheels" "$@" pip "$want"
}
install --no-index 2>/dev/null || install
echo "installed: now run $here/grade list"
