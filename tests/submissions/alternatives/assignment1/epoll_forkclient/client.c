/* client.c - sends stdin to the sum server and prints its replies.
 *
 * Two processes share the connected socket: after connect() the client
 * forks; the child copies socket -> stdout until the server closes the
 * connection, the parent copies stdin -> socket and, at EOF, shuts down the
 * sending side and waits for the child.  The exit status is the child's
 * (0 once the server closed the connection normally).  If the child ends
 * first (the server went away) while the parent is still blocked reading a
 * terminal, a SIGCHLD handler reaps it and exits with its status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child = -1;

static int status_code(int st)
{
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

static void on_chld(int sig)
{
    (void)sig;
    int st;
    if (child > 0 && waitpid(child, &st, WNOHANG) == child)
        _exit(status_code(st));
}

static int copy_all(int fd, const char *p, size_t n, int sock)
{
    while (n > 0) {
        ssize_t w = sock ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);
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

static void reader(int fd)        /* the child: socket -> stdout */
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0)
            _exit(0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("client: read from server");
            _exit(1);
        }
        if (copy_all(1, buf, (size_t)n, 0) < 0) {
            perror("client: write stdout");
            _exit(1);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s SOCKET_PATH\n", argv[0]);
        return 2;
    }
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(argv[1]) >= sizeof addr.sun_path) {
        fprintf(stderr, "client: socket path too long\n");
        return 2;
    }
    strcpy(addr.sun_path, argv[1]);

    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) {
        perror("client: socket");
        return 1;
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        fprintf(stderr, "client: cannot connect to %s: %s\n", argv[1],
                strerror(errno));
        return 1;
    }

    /* SIGCHLD is blocked until `child` holds the pid, so the handler can
     * never see a child it does not know yet. */
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &old);
    struct sigaction sa = { .sa_handler = on_chld };
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_NOCLDSTOP;   /* no SA_RESTART: EINTR is fine too */
    sigaction(SIGCHLD, &sa, NULL);

    pid_t pid = fork();
    if (pid < 0) {
        perror("client: fork");
        return 1;
    }
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        signal(SIGCHLD, SIG_DFL);
        close(0);
        reader(fd);
    }
    child = pid;
    sigprocmask(SIG_SETMASK, &old, NULL);

    char buf[65536];
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            perror("client: read stdin");
        if (n <= 0)
            break;
        if (copy_all(fd, buf, (size_t)n, 1) < 0) {
            /* the server no longer takes data; the child still prints
             * what it sent until it closes the connection */
            perror("client: send");
            break;
        }
    }
    if (shutdown(fd, SHUT_WR) < 0 && errno != ENOTCONN)
        perror("client: shutdown");

    sigprocmask(SIG_BLOCK, &chld, NULL);   /* we reap it ourselves now */
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            perror("client: waitpid");
            return 1;
        }
    }
    return status_code(st);
}
