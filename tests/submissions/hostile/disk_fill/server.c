/* Hostile server: fills every folder it may write, 4 MiB per file (under the file size
 * limit), until a write fails; at most 1 GiB per folder. Then it exits 1 without listening. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (1 << 20)
#define FILE_MIB 4
#define MAX_FILES 256 /* 1 GiB */

static char chunk[CHUNK];

static void fill(const char *folder)
{
    long written = 0;
    int error = 0;
    for (int n = 0; n < MAX_FILES && !error; n++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/fill-%03d", folder, n);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd == -1) {
            error = errno;
            break;
        }
        for (int m = 0; m < FILE_MIB; m++) {
            ssize_t w = write(fd, chunk, CHUNK);
            if (w > 0)
                written += w;
            if (w != CHUNK) {
                error = w == -1 ? errno : ENOSPC;
                break;
            }
        }
        close(fd);
    }
    fprintf(stderr, "%s: wrote %ld MiB: %s\n", folder, written >> 20,
            error ? strerror(error) : "no error");
}

int main(void)
{
    memset(chunk, 'x', sizeof chunk);
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    fill("/tmp");
    fill(".");
    if (n > 0) {
        self[n] = '\0';
        fill(dirname(self));
    }
    return 1;
}
