/* Hostile server: a fork bomb. Every process forks forever and never serves.
 * Only the sandbox's process limit (RLIMIT_NPROC of its own user id) holds it, so it refuses
 * to start anywhere else: as root or without a small process limit it would take the machine.
 * A sandbox user id is one of the local backend's (62000-62999) or of the docker backend's
 * (70000-99999); test_hostile.py checks that the grader still uses these ranges. */
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

int main(void)
{
    uid_t uid = getuid();
    int local = uid >= 62000 && uid < 63000;
    int docker = uid >= 70000 && uid < 100000;
    struct rlimit nproc;
    if (!(local || docker) || getrlimit(RLIMIT_NPROC, &nproc) == -1 || nproc.rlim_cur > 1024) {
        fprintf(stderr, "fork bomb: refusing to run outside the sandbox\n");
        return 3;
    }
    for (;;)
        fork();
}
