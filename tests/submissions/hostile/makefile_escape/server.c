/* Hostile server: the reference server, but it refuses to work while the daemon its Makefile
 * started is alive: a build must leave nothing running. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reference_server.inc"

__attribute__((constructor)) static void no_build_daemon(void)
{
    DIR *proc = opendir("/proc");
    struct dirent *entry;
    while (proc && (entry = readdir(proc))) {
        char path[300], command[256] = "";
        snprintf(path, sizeof path, "/proc/%s/cmdline", entry->d_name);
        int fd = open(path, O_RDONLY);
        if (fd == -1)
            continue;
        ssize_t n = read(fd, command, sizeof command - 1);
        close(fd);
        if (n > 0 && strstr(command, "hostile-build-daemon")) {
            fprintf(stderr, "the daemon of the build still runs: pid %s\n", entry->d_name);
            _exit(1);
        }
    }
    if (proc)
        closedir(proc);
}
