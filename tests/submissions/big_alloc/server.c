/* Hostile server: allocates 2 GiB and touches every page before it listens.
 * Under the sandbox's address-space limit malloc fails, and the server says so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIZE (2UL << 30)

int main(void)
{
    char *buffer = malloc(SIZE);
    if (buffer == NULL) {
        perror("malloc");
        return 1;
    }
    memset(buffer, 1, SIZE);
    fprintf(stderr, "allocated and touched 2 GiB\n");
    free(buffer);
    return 4;
}
