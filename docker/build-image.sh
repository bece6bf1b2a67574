#!/usr/bin/env bash
# Build the grading image ipc-grader:<version> (also tagged :latest).
#
#   docker/build-image.sh [--offline] [--no-cache] [--force] [--kit KIT]
#
# --kit KIT builds the students' image instead, ipc-grader-student:<version>,
# from a student kit (`grade package student ... -o KIT`): its assignments/
# (visible checks only) and reference/ (compiled programs, no sources) go to
# /opt/ipc-grader, so that the image a student runs holds no answer either.
#
# <version> is grader/__init__.py's __version__. Steps:
#   1. make sure the base image exists (docker/build-base-image.sh, idempotent);
#   2. stage a clean build context: assignments/ and reference/ (no build
#      products, no __pycache__), the grader built as a wheel, and wheels of
#      every Python dependency that Debian's packages in the base do not
#      satisfy, downloaded for the base image's Python and platform;
#   3. `docker build --network none` with docker/Dockerfile: nothing inside
#      the build touches a network.
# Rerunning is cheap: when the inputs (the staged sources, Dockerfile,
# constraints.txt, the base image) are those of the existing image (its label
# ipc-grader.inputs-id), nothing is rebuilt (~1 s; --no-cache or --force
# rebuild anyway); otherwise docker's layer cache keeps unchanged layers.
#
# Wheels are kept in $WHEEL_CACHE. With --offline (or when the package index
# cannot be reached) only that cache is used, so a machine that built once,
# or that received the cache folder, can rebuild without network.
#
# Environment:
#   BASE_IMAGE    base image            (ipc-grader-base:bookworm)
#   IMAGE         image repository name (ipc-grader; ipc-grader-student with --kit)
#   WHEEL_CACHE   wheel cache folder    (/var/cache/ipc-grader/wheels)
#   PYTHON        host Python with pip  (python3)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
BASE_IMAGE=${BASE_IMAGE:-ipc-grader-base:bookworm}
IMAGE=${IMAGE:-}
WHEEL_CACHE=${WHEEL_CACHE:-/var/cache/ipc-grader/wheels}
PYTHON=${PYTHON:-python3}

say() { printf 'build-image: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

offline=0
force=0
kit=
build_args=()
while (($#)); do
    case $1 in
        --offline) offline=1 ;;
        --no-cache) build_args+=(--no-cache); force=1 ;;
        --force) force=1 ;;
        --kit) (($# > 1)) || die "--kit needs the kit's folder"; kit=$2; shift ;;
        --kit=*) kit=${1#--kit=} ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (usage: $0 [--offline] [--no-cache] [--force] [--kit KIT])" ;;
    esac
    shift
done
if [[ -n $kit ]]; then
    [[ -d $kit/assignments && -d $kit/reference ]] || die "$kit: not a student kit (no assignments/ or reference/)"
    kit=$(cd "$kit" && pwd)
    leaks=$(find "$kit/reference" \( -name '*.[ch]' -o -name mutants -o -iname makefile \) -print -quit)
    [[ -z $leaks ]] || die "$kit holds reference sources or mutants ($leaks): not a student kit"
    build_args+=(--label ipc-grader.kind=student)
fi
IMAGE=${IMAGE:-$([[ -n $kit ]] && echo ipc-grader-student || echo ipc-grader)}

version=$(sed -n 's/^__version__ *= *["'\'']\([^"'\'']*\)["'\''].*/\1/p' "$repo/grader/__init__.py" 2>/dev/null)
[[ -n $version ]] || die "no __version__ = \"x.y.z\" line in $repo/grader/__init__.py"
"$PYTHON" -m pip --version >/dev/null 2>&1 || die "$PYTHON has no pip (apt-get install python3-pip, or set PYTHON)"
docker info >/dev/null 2>&1 || die "no docker engine answers; start one with docker/start-dockerd.sh"
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    say "base image $BASE_IMAGE is missing: building it"
    BASE_IMAGE=$BASE_IMAGE "$here/build-base-image.sh"
fi

start=$SECONDS
ctx=$(mktemp -d /var/tmp/ipc-grader-context.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/src" "$ctx/wheels/deps" "$ctx/wheels/grader" "$WHEEL_CACHE"

# 1. Sources: what the grader needs at run time, as the repository would ship
#    it (git's view when available, so ignored files stay out), minus build
#    products of the reference (binaries, objects) and Python caches.
"$PYTHON" - "$repo" "$ctx" "$kit" <<'EOF'
import shutil, subprocess, sys
from pathlib import Path

repo, ctx = Path(sys.argv[1]), Path(sys.argv[2])
kit = Path(sys.argv[3]) if sys.argv[3] else None
trees = ["assignments", "reference"]
roots = ["pyproject.toml", "README.md", "grader", *([] if kit else trees)]
try:
    listed = subprocess.run(["git", "-C", repo, "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard", "--", *roots],
                            check=True, capture_output=True).stdout.decode().split("\0")
    files = [repo / f for f in listed if f]
except (OSError, subprocess.CalledProcessError):
    files = [p for r in roots for p in ([repo / r] if (repo / r).is_file() else (repo / r).rglob("*"))]

def wanted(path: Path) -> bool:
    rel = path.relative_to(repo)
    if any(part == "__pycache__" or part == "build" or part.endswith(".egg-info") for part in rel.parts):
        return False
    if path.suffix in {".pyc", ".o", ".a", ".so"} or path.is_symlink() or not path.is_file():
        return False
    with path.open("rb") as f:
        return f.read(4) != b"\x7fELF"  # compiled programs

copied = 0
for path in filter(wanted, files):
    # The whole tree builds the wheel; /opt/ipc-grader gets assignments/ and reference/.
    for dest_root in ([ctx / "project"] + ([ctx / "src"] if path.relative_to(repo).parts[0]
                                            in ("assignments", "reference") else [])):
        dest = dest_root / path.relative_to(repo)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
    copied += 1
if kit:  # a student kit's trees, as they are: its reference programs are compiled on purpose
    for path in sorted(p for tree in trees for p in (kit / tree).rglob("*")):
        if path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts:
            for dest_root in (ctx / "project", ctx / "src"):
                dest = dest_root / path.relative_to(kit)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)
            copied += 1
if not (ctx / "project" / "README.md").exists():  # pyproject's readme must exist to build
    (ctx / "project" / "README.md").write_text("ipc-grader\n")
print(f"build-image: staged {copied} files", file=sys.stderr)
EOF

# Up to date? The inputs: every staged file (path, content, executable bit), the Dockerfile,
# the pins, and the base image's id.
inputs_id=$( { (cd "$ctx/project" && find . -type f -print0 | sort -z | xargs -0 sha256sum \
                 && find . -type f -perm -u+x | sort)
               sha256sum <"$here/Dockerfile"
               [[ -r $here/constraints.txt ]] && sha256sum <"$here/constraints.txt"
               docker image inspect --format '{{.Id}}' "$BASE_IMAGE"; } | sha256sum | cut -c1-16)
if ((!force)) && [[ $(docker image inspect --format '{{index .Config.Labels "ipc-grader.inputs-id"}}' \
                     "$IMAGE:$version" 2>/dev/null) == "$inputs_id" ]]; then
    docker tag "$IMAGE:$version" "$IMAGE:latest"
    say "$IMAGE:$version is up to date (inputs $inputs_id unchanged; --force rebuilds)"
    exit 0
fi

# 2. The base image's Python and platform tags, so the wheels fit it and not this host.
read -r py_version py_abi platforms < <(docker run --rm --network none "$BASE_IMAGE" python3 -c '
import sys
from packaging import tags
platforms = []
for t in tags.sys_tags():
    if t.interpreter.startswith("cp") and t.platform != "any" and t.platform not in platforms:
        platforms.append(t.platform)
print("%d.%d" % sys.version_info[:2], next(iter(tags.sys_tags())).abi, *platforms)') \
    || die "could not ask $BASE_IMAGE for its Python tags"
target=(--only-binary=:all: --implementation cp --python-version "$py_version" --abi "$py_abi")
for p in $platforms; do target+=(--platform "$p"); done

# pip, quiet; hosts whose pip.conf names missing local index folders make it
# warn once per package: those lines are dropped.
pip_q() {
    "$PYTHON" -m pip -q --disable-pip-version-check "$@" \
        2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
online() { ((!offline)); }
cache_only=(--no-index --find-links "$WHEEL_CACHE")

# 3. The grader as a wheel. The build backend (pyproject's [build-system]) is
#    fetched into an isolated environment, from the index or the cache.
#    A fixed SOURCE_DATE_EPOCH makes the wheel byte-identical for identical
#    sources, so docker reuses its layers when nothing changed.
build_wheel() { SOURCE_DATE_EPOCH=315532800 pip_q wheel --no-deps -w "$ctx/wheels/grader" "$@" "$ctx/project"; }
if online && build_wheel --find-links "$WHEEL_CACHE"; then
    # Keep the build backend in the cache for offline rebuilds.
    mapfile -t build_requires < <("$PYTHON" -c 'import sys, tomllib; print(*tomllib.load(open(sys.argv[1], "rb"))["build-system"]["requires"], sep="\n")' "$ctx/project/pyproject.toml" 2>/dev/null)
    ((${#build_requires[@]} == 0)) || pip_q download --only-binary=:all: -d "$WHEEL_CACHE" "${build_requires[@]}" \
        || say "warning: could not cache the build backend (${build_requires[*]})"
else
    online && say "warning: building the grader wheel failed (see pip above): retrying with the wheel cache $WHEEL_CACHE only"
    offline=1
    build_wheel "${cache_only[@]}" \
        || die "could not build the grader wheel (see pip above; offline, the build backend must be in $WHEEL_CACHE: run once online)"
fi
grader_wheel=$(ls "$ctx"/wheels/grader/*.whl)

# 4. Every dependency of the grader wheel, for the base image's Python. Those
#    that Debian's packages already satisfy are skipped by pip in the image.
constraints=()
[[ -r $here/constraints.txt ]] && constraints=(-c "$here/constraints.txt")
fetch_deps() { pip_q download -d "$ctx/wheels/deps" "${target[@]}" "${constraints[@]}" "$@" "$grader_wheel"; }
if online && fetch_deps --find-links "$WHEEL_CACHE"; then
    rm -f "$ctx/wheels/deps/$(basename "$grader_wheel")"
    cp -n "$ctx"/wheels/deps/*.whl "$WHEEL_CACHE"/ 2>/dev/null || true
else
    online && say "warning: downloading dependencies failed (see pip above): retrying with the wheel cache $WHEEL_CACHE only"
    fetch_deps "${cache_only[@]}" \
        || die "dependencies of $(basename "$grader_wheel") are not all in $WHEEL_CACHE (run once online, or check constraints.txt)"
    rm -f "$ctx/wheels/deps/$(basename "$grader_wheel")"
fi
deps=("$ctx"/wheels/deps/*.whl)
say "dependency wheels: ${#deps[@]} ($(printf '%s\n' "${deps[@]##*/}" | sed -E 's/^([^-]+-[^-]+)-.*/\1/' | paste -sd' ' -))"

# 5. Build, with no network inside the build.
rm -rf "$ctx/project"
cp "$here/Dockerfile" "$ctx/Dockerfile"
say "docker build $IMAGE:$version (from $BASE_IMAGE)"
source_id=$(cd "$ctx" && find src wheels -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
if ! docker build --network none "${build_args[@]}" \
        --build-arg BASE_IMAGE="$BASE_IMAGE" \
        --label ipc-grader.version="$version" --label ipc-grader.source-id="$source_id" \
        --label ipc-grader.inputs-id="$inputs_id" \
        -t "$IMAGE:$version" -t "$IMAGE:latest" "$ctx" >"$ctx/build.log" 2>&1; then
    tail -n 30 "$ctx/build.log" >&2
    die "docker build failed (last lines above)"
fi
# Older builds of ours that no tag points to any more.
docker image prune -f --filter label=ipc-grader.version >/dev/null || true
size=$(docker image inspect --format '{{.Size}}' "$IMAGE:$version")
say "built $IMAGE:$version (= $IMAGE:latest) in $((SECONDS - start))s, size $((size / 1024 / 1024)) MiB"
