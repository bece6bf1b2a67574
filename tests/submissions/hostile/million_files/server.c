/* Hostile server: creates up to 1,000,000 empty files in its working folder (and 10,000 in
 * /tmp), until one cannot be created; then it exits 1 without listening. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void create(const char *folder, long count)
{
    long made = 0;
    int error = 0;
    char path[4096];
    for (; made < count; made++) {
        snprintf(path, sizeof path, "%s/f%07ld", folder, made);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd == -1) {
            error = errno;
            break;
        }
        close(fd);
    }
    fprintf(stderr, "%s: created %ld files: %s\n", folder, made,
            error ? strerror(error) : "no error");
}

int main(void)
{
    create("/tmp", 10000);
    create(".", 1000000);
    return 1;
}
