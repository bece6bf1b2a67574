/* client.c - sends stdin to the sum server and prints its replies.
 *
 * One thread, poll() on stdin and the socket.  stdin is only read when the
 * previous chunk has been sent completely, and sends use MSG_DONTWAIT, so the
 * client keeps reading replies while the server is slow to take our data
 * (no deadlock on huge inputs).  At EOF on stdin: shutdown(SHUT_WR), then
 * print replies until the server closes the connection, exit 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s SOCKET_PATH\n", argv[0]);
        return 2;
    }
    struct sockaddr_un addr;
    if (make_addr("client", argv[1], &addr) < 0)
        return 2;

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("client: socket");
        return 1;
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        fprintf(stderr, "client: cannot connect to %s: %s\n", argv[1],
                strerror(errno));
        close(fd);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);            /* stdout may be a closed pipe too */

    char in[65536], rep[65536];
    size_t in_off = 0, in_len = 0;       /* unsent bytes are in[in_off..in_len) */
    bool stdin_open = true, wr_shut = false;

    for (;;) {
        if (!stdin_open && in_off == in_len && !wr_shut) {
            if (shutdown(fd, SHUT_WR) < 0 && errno != ENOTCONN) {
                perror("client: shutdown");
                return 1;
            }
            wr_shut = true;
        }
        struct pollfd p[2] = {
            { .fd = (stdin_open && in_off == in_len) ? 0 : -1, .events = POLLIN },
            { .fd = fd, .events = POLLIN | (in_off < in_len ? POLLOUT : 0) },
        };
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("client: poll");
            return 1;
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = recv(fd, rep, sizeof rep, MSG_DONTWAIT);
            if (n == 0)
                break;                   /* the server closed: done */
            if (n < 0 && errno != EAGAIN && errno != EINTR) {
                perror("client: recv");
                return 1;
            }
            if (n > 0 && write_all(1, rep, (size_t)n, 0, NULL) < 0) {
                perror("client: write stdout");
                return 1;
            }
        }
        if (in_off < in_len && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = send(fd, in + in_off, in_len - in_off,
                             MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0) {
                in_off += (size_t)n;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                /* EPIPE/ECONNRESET: the server stopped reading; still
                 * print what it sent until it closes */
                perror("client: send");
                in_off = in_len;
                stdin_open = false;
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(0, in, sizeof in);
            if (n > 0) {
                in_off = 0;
                in_len = (size_t)n;
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                if (n < 0)
                    perror("client: read stdin");
                stdin_open = false;
            }
        }
    }
    close(fd);
    return 0;
}
