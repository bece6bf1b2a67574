/* Hostile server: a fork bomb. Every process forks forever and never serves.
 * Only the sandbox's process limit (RLIMIT_NPROC of its own user id) holds it, so it refuses
 * to start anywhere else: as root or without a small process limit it would take the machine. */
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

int main(void)
{
    struct rlimit nproc;
    if (getuid() < 62000 || getuid() >= 63000 || getrlimit(RLIMIT_NPROC, &nproc) == -1 ||
        nproc.rlim_cur > 1024) {
        fprintf(stderr, "fork bomb: refusing to run outside the sandbox\n");
        return 3;
    }
    for (;;)
        fork();
}
