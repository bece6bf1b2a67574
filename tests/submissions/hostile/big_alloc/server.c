/* Hostile server: allocates 4 GiB and touches every page before it listens.
 * Under an address-space limit malloc fails and the server says so; under a memory cgroup
 * the kernel's OOM killer stops it while it touches the pages. The writes go through a
 * volatile pointer: the compiler may not drop them (a memset before free() it may). */
#include <stdio.h>
#include <stdlib.h>

#define SIZE (4UL << 30)

int main(void)
{
    char *buffer = malloc(SIZE);
    if (buffer == NULL) {
        perror("malloc");
        return 1;
    }
    volatile char *page = buffer;
    for (size_t i = 0; i < SIZE; i += 4096)
        page[i] = 1;
    fprintf(stderr, "allocated and touched 4 GiB\n");
    free(buffer);
    return 4;
}
