/* Hostile server: appends 1 MiB at a time to one file, for ever (at most 1 GiB, so that a
 * grader without a file size limit is not taken down); then it exits 1 without listening. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char chunk[1 << 20];

int main(void)
{
    memset(chunk, 'x', sizeof chunk);
    int fd = open("big-file", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    for (int n = 0; fd != -1 && n < 1024; n++)
        if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk) {
            perror("write");
            break;
        }
    return 1;
}
