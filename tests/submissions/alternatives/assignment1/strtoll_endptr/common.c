#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int make_addr(const char *prog, const char *path, struct sockaddr_un *addr)
{
    size_t n = strlen(path);
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    if (n == 0 || n >= sizeof addr->sun_path) {
        fprintf(stderr, "%s: socket path must have 1 to %zu bytes: %s\n",
                prog, sizeof addr->sun_path - 1, path);
        return -1;
    }
    memcpy(addr->sun_path, path, n + 1);
    return 0;
}

int write_all(int fd, const void *buf, size_t len, int is_socket,
              volatile sig_atomic_t *stop)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = is_socket ? send(fd, p, len, MSG_NOSIGNAL)
                              : write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR && !(stop && *stop))
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}
