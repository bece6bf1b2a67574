/* Sum client: the main thread copies stdin to the socket, then shuts down the
 * sending side; a reader thread prints replies and ends the process when the
 * server closes the connection. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int sock;
static _Atomic int send_failed;

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

static void *reader(void *arg)
{
    char buf[4096];
    int rc = 0;

    (void)arg;
    for (;;) {
        ssize_t r = read(sock, buf, sizeof buf);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            break;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            perror("client: read from server");
            rc = 1;
            break;
        }
        if (write_all(STDOUT_FILENO, buf, (size_t)r) < 0) {
            perror("client: write stdout");
            rc = 1;
            break;
        }
    }
    exit(rc || send_failed);      /* the server is done: so are we */
}

int main(int argc, char **argv)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    pthread_t tid;
    char buf[4096];
    int err;

    if (argc != 2 || strlen(argv[1]) >= sizeof addr.sun_path) {
        fprintf(stderr, "usage: %s SOCKET_PATH\n", argv[0]);
        return 2;
    }
    strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
    if ((sock = socket(AF_UNIX, SOCK_STREAM, 0)) < 0) {
        perror("client: socket");
        return 1;
    }
    if (connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0) {
        fprintf(stderr, "client: cannot connect to %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    if ((err = pthread_create(&tid, NULL, reader, NULL)) != 0) {
        fprintf(stderr, "client: pthread_create: %s\n", strerror(err));
        return 1;
    }
    for (;;) {
        ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
        if (r == 0)
            break;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            perror("client: read stdin");
            send_failed = 1;
            break;
        }
        if (write_all(sock, buf, (size_t)r) < 0) {
            perror("client: write to server");
            send_failed = 1;
            break;
        }
    }
    if (shutdown(sock, SHUT_WR) < 0 && errno != ENOTCONN) {
        perror("client: shutdown");
        send_failed = 1;
    }
    pthread_join(tid, NULL);      /* the reader exits the process */
    return 1;
}
