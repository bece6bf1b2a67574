#!/usr/bin/env bash
# Prove the grading image works under the grading container options.
#
#   docker/smoke-test.sh [IMAGE]        (default ipc-grader:latest)
#
# Inside one container started like a grading run (no network, read-only
# root, tmpfs /tmp and /work, pids/memory limits, no-new-privileges, every
# capability dropped but the harness's five): compile a C program that uses a
# UNIX socket, a POSIX message queue and POSIX shared memory; run it as root
# under `strace -f`, then as the student user (runuser, and setpriv under a
# root strace, as the grader does), also under strace; import
# the grader's Python dependencies. Then check that the memory, pids and cpu
# limits are really enforced, and time container create+start+exec+rm.
# Prints one line per check; exits non-zero if any failed.
set -uo pipefail

IMAGE=${1:-ipc-grader:latest}
RUNS=${RUNS:-5}
# The options of a grading container (grader/sandbox/docker.py creates it so).
# shellcheck disable=SC2054  # the commas are tmpfs mount options
GRADING_OPTS=(--network none --ipc private --init --security-opt no-new-privileges
              --cap-drop ALL --cap-add CHOWN --cap-add DAC_OVERRIDE --cap-add SETUID
              --cap-add SETGID --cap-add KILL
              --pids-limit 128 --memory 512m --memory-swap 512m --cpus 1 --read-only
              --tmpfs /tmp:mode=1777,size=64m --tmpfs /work:exec,mode=755,size=128m)

failed=0
check() {  # check NAME COMMAND...: run COMMAND, print PASS/FAIL with its output on failure
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then
        printf 'PASS  %s%s\n' "$name" "${out:+  [$(tail -n 1 <<<"$out")]}"
    else
        printf 'FAIL  %s\n%s\n' "$name" "$(sed 's/^/      /' <<<"$out" | tail -n 15)"
        failed=1
    fi
}

docker info >/dev/null 2>&1 || { echo "smoke-test: no docker engine answers (docker/start-dockerd.sh)" >&2; exit 1; }
docker image inspect "$IMAGE" >/dev/null 2>&1 || { echo "smoke-test: no image $IMAGE (docker/build-image.sh)" >&2; exit 1; }

box=ipc-grader-smoke-$$
trap 'docker rm -f "$box" >/dev/null 2>&1' EXIT
docker run -d --name "$box" "${GRADING_OPTS[@]}" "$IMAGE" sleep infinity >/dev/null \
    || { echo "smoke-test: could not start a container with the grading options" >&2; exit 1; }
in_box() { docker exec -i -w /work "$box" "$@"; }

in_box sh -c 'cat > /work/ipc.c' <<'EOF'
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void die(const char *call) { perror(call); exit(1); }

int main(int argc, char **argv)
{
    if (argc != 4) { fprintf(stderr, "usage: %s SOCKET QUEUE SHM\n", argv[0]); return 2; }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
    if (listen(fd, 1) < 0) die("listen");
    close(fd);
    unlink(argv[1]);

    struct mq_attr attr = { .mq_maxmsg = 4, .mq_msgsize = 64 };
    mqd_t q = mq_open(argv[2], O_CREAT | O_RDWR, 0600, &attr);
    if (q == (mqd_t)-1) die("mq_open");
    char buf[64];
    if (mq_send(q, "ping", 5, 0) < 0) die("mq_send");
    if (mq_receive(q, buf, sizeof buf, NULL) < 0) die("mq_receive");
    mq_close(q);
    mq_unlink(argv[2]);

    int shm = shm_open(argv[3], O_CREAT | O_RDWR, 0600);
    if (shm < 0) die("shm_open");
    if (ftruncate(shm, 4096) < 0) die("ftruncate");
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, shm, 0);
    if (p == MAP_FAILED) die("mmap");
    strcpy(p, buf);
    printf("ok %s\n", p);
    munmap(p, 4096);
    close(shm);
    shm_unlink(argv[3]);
    return 0;
}
EOF

check "gcc compiles (-Wall -Wextra, -lrt)" \
    in_box sh -c 'gcc -std=gnu11 -Wall -Wextra -Werror -O2 -o /work/ipc /work/ipc.c -lrt && chmod 755 /work'
check "runs as root: UNIX socket, POSIX mq, POSIX shm" \
    in_box sh -c '/work/ipc /tmp/s.sock /ipcg-q1 /ipcg-m1 | grep -qx "ok ping"'
check "strace -f -e trace=%net as root" \
    in_box sh -c 'strace -f -qq -e trace=%net -o /tmp/net.trace /work/ipc /tmp/s2.sock /ipcg-q2 /ipcg-m2 >/dev/null && grep -q "bind(" /tmp/net.trace'
check "strace -e trace=mq_open,shm via -ttt" \
    in_box sh -c 'strace -f -ttt -qq -e trace=mq_open,mq_timedsend,openat -o /tmp/mq.trace /work/ipc /tmp/s3.sock /ipcg-q3 /ipcg-m3 >/dev/null && grep -q "mq_open(\"ipcg-q3\"" /tmp/mq.trace && grep -q "/dev/shm/ipcg-m3" /tmp/mq.trace'
check "runuser -u student runs the program" \
    in_box sh -c 'runuser -u student -- /work/ipc /tmp/s4.sock /ipcg-q4 /ipcg-m4 | grep -qx "ok ping"'
# The grader's way: strace starts as root, then setpriv drops to the student user (no
# SYS_PTRACE needed: root traces its own child; `strace -u` or `strace -p` would need it).
check "root traces the program, setpriv makes it the student's" \
    in_box sh -c 'strace -f -qq -e trace=%net -o /tmp/u.trace setpriv --reuid=10001 --regid=10001 --clear-groups --no-new-privs -- /work/ipc /tmp/s6.sock /ipcg-q6 /ipcg-m6 >/dev/null && grep -q "bind(" /tmp/u.trace'
check "student runs it under strace (unprivileged ptrace)" \
    in_box sh -c 'runuser -u student -- strace -f -qq -e trace=%net -o /tmp/student.trace /work/ipc /tmp/s5.sock /ipcg-q5 /ipcg-m5 >/dev/null && grep -q "bind(" /tmp/student.trace'
check "student cannot write the image or /opt/ipc-grader" \
    in_box sh -c '! runuser -u student -- touch /opt/ipc-grader/x 2>/dev/null && ! touch /usr/x 2>/dev/null'
check "no network interface but lo" \
    in_box sh -c 'test "$(ls /sys/class/net)" = lo'
check "python: yaml jinja2 pexpect pytest strace_parser pytest_timeout grader" \
    in_box python3 -c 'import yaml, jinja2, pexpect, pytest, strace_parser, pytest_timeout, grader; print(grader.__version__)'
check "pids limit 128 enforced (fork loop stopped with EAGAIN)" in_box python3 - <<'EOF'
import os, signal, time
kids = []
try:
    for _ in range(1000):
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        kids.append(pid)
except BlockingIOError:
    pass
for pid in kids:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
print(len(kids), "forks")
assert len(kids) < 128, "the pids limit did not stop the forks"
EOF
check "memory limit 512m enforced (OOM kill of a 1 GiB allocation)" \
    in_box sh -c 'python3 -c "b = bytearray(1 << 30); b[::4096] = b\"x\" * (len(b) // 4096)"; test $? -eq 137'
check "full tmpfs gives ENOSPC (size=), not an OOM kill" \
    in_box sh -c 'dd if=/dev/zero of=/tmp/fill bs=1M count=100 2>&1 | grep -q "No space left"; r=$?; rm -f /tmp/fill; exit $r'
check "POSIX queues are private to the container (IPC namespace)" \
    sh -c "docker exec $box python3 -c 'import os; os.close(os.open(\"/dev/mqueue/ipcg-private\", os.O_CREAT | os.O_RDWR))' &&
           docker run --rm --network none $IMAGE sh -c '! test -e /dev/mqueue/ipcg-private'"
docker rm -f "$box" >/dev/null

# cpus: a busy loop in a --cpus 0.5 container gets about half a CPU.
check "--cpus 0.5 enforced (CFS quota)" \
    docker run --rm --network none --cpus 0.5 "$IMAGE" python3 -c '
import time, os
w0, c0 = time.monotonic(), time.process_time()
while time.monotonic() - w0 < 1.0: pass
share = (time.process_time() - c0) / (time.monotonic() - w0)
print(f"cpu share {share:.2f}"); assert share < 0.7, share'

# Overhead of one sandbox lifecycle: create + start + exec + remove.
times=()
for _ in $(seq "$RUNS"); do
    t0=$(date +%s%N)
    c=$(docker create "${GRADING_OPTS[@]}" "$IMAGE" sleep infinity) \
        && docker start "$c" >/dev/null && docker exec "$c" true && docker rm -f "$c" >/dev/null \
        || { echo "FAIL  container lifecycle"; failed=1; break; }
    times+=($(( ($(date +%s%N) - t0) / 1000000 )))
done
if ((${#times[@]})); then
    median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (${#times[@]} + 1) / 2 ))p")
    echo "INFO  create+start+exec+rm: median ${median} ms over ${#times[@]} runs (${times[*]} ms)"
fi
echo "INFO  image $IMAGE: $(( $(docker image inspect --format '{{.Size}}' "$IMAGE") / 1024 / 1024 )) MiB"
exit "$failed"
