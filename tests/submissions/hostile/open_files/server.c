/* Hostile server: opens /dev/null until it cannot, reports why, exits 1 without listening. */
#include <fcntl.h>
#include <stdio.h>

int main(void)
{
    long opened = 0;
    while (open("/dev/null", O_RDONLY) != -1)
        opened++;
    fprintf(stderr, "opened %ld files\n", opened);
    perror("open");
    return 1;
}
