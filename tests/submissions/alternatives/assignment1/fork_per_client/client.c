/* Sum client: a forked child copies stdin to the socket and shuts down the
 * sending side; the parent prints every reply until the server closes. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int copy_stdin(int fd)
{
    char buf[4096];
    for (;;) {
        ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            perror("client: read stdin");
            shutdown(fd, SHUT_WR);
            return 1;
        }
        if (write_all(fd, buf, (size_t)r) < 0) {
            perror("client: write to server");
            return 1;
        }
    }
    if (shutdown(fd, SHUT_WR) < 0) {
        perror("client: shutdown");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    char buf[4096];
    int fd, rc = 0, st = 0;
    pid_t pid;

    if (argc != 2) {
        fprintf(stderr, "usage: %s SOCKET_PATH\n", argv[0]);
        return 2;
    }
    if (strlen(argv[1]) >= sizeof addr.sun_path) {
        fprintf(stderr, "client: socket path too long\n");
        return 2;
    }
    strcpy(addr.sun_path, argv[1]);
    if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0) {
        perror("client: socket");
        return 1;
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        fprintf(stderr, "client: cannot connect to %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    fflush(stdout);
    if ((pid = fork()) < 0) {
        perror("client: fork");
        return 1;
    }
    if (pid == 0)
        _exit(copy_stdin(fd));

    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno != ECONNRESET) {
                perror("client: read from server");
                rc = 1;
            }
            break;
        }
        if (write_all(STDOUT_FILENO, buf, (size_t)r) < 0) {
            perror("client: write stdout");
            rc = 1;
            break;
        }
    }
    /* the server closed: the sender is done, or still waiting on stdin */
    if (waitpid(pid, &st, WNOHANG) == 0) {
        kill(pid, SIGTERM);
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
    } else if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
        rc = 1;
    }
    return rc;
}
