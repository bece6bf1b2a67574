/* Hostile server: the reference server, plus a mess that resists removal, made before main()
 * in its working folder, in its build folder and in /tmp. */
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reference_server.inc"

static void touch(const char *path, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    if (fd != -1)
        close(fd);
    chmod(path, mode);
}

static void mess(const char *where)
{
    int back = open(".", O_RDONLY | O_DIRECTORY);
    if (chdir(where) == -1) {
        perror(where);
        close(back);
        return;
    }
    mkdir("hostile-locked", 0700);
    mkdir("hostile-locked/inner", 0700);
    touch("hostile-locked/inner/file", 0);
    chmod("hostile-locked/inner", 0);
    chmod("hostile-locked", 0);
    mkdir("hostile-sticky", 0700);
    touch("hostile-sticky/file", 0644);
    chmod("hostile-sticky", 01777);
    touch("hostile-no-mode", 0);
    mkfifo("hostile-fifo", 0);
    mkdir("hostile-deep", 0700);
    int depth = 0;
    if (chdir("hostile-deep") == 0)
        for (; depth < 3000; depth++)
            if (mkdir("d", 0700) == -1 || chdir("d") == -1)
                break;
    touch("bottom", 0);
    if (fchdir(back) == -1)
        perror("fchdir");
    close(back);
    fprintf(stderr, "%s: left locked folders and a tree %d deep\n", where, depth);
}

__attribute__((constructor)) static void resist_cleanup(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    mess(".");
    mess("/tmp");
    if (n > 0) {
        self[n] = '\0';
        mess(dirname(self));
    }
}
