/* Sum client: single thread, poll() on stdin and the (non-blocking) socket;
 * stdin is read only when the previous chunk has been sent. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
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

int main(int argc, char **argv)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    char out[4096], in[4096];
    size_t plen = 0, poff = 0;
    int fd, in_open = 1, rc = 0;

    if (argc != 2 || strlen(argv[1]) >= sizeof addr.sun_path) {
        fprintf(stderr, "usage: %s SOCKET_PATH\n", argv[0]);
        return 2;
    }
    strcpy(addr.sun_path, argv[1]);
    if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0) {
        perror("client: socket");
        return 1;
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        fprintf(stderr, "client: connect to %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

    for (;;) {
        struct pollfd pf[2] = {
            { .fd = fd, .events = POLLIN | (poff < plen ? POLLOUT : 0) },
            { .fd = STDIN_FILENO, .events = POLLIN },
        };
        int nfds = (in_open && poff == plen) ? 2 : 1;
        if (poll(pf, (nfds_t)nfds, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("client: poll");
            return 1;
        }
        if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = read(fd, in, sizeof in);
            if (r == 0 || (r < 0 && errno == ECONNRESET))
                break;                               /* server closed */
            if (r < 0 && errno != EAGAIN && errno != EINTR) {
                perror("client: read from server");
                return 1;
            }
            if (r > 0 && write_all(STDOUT_FILENO, in, (size_t)r) < 0) {
                perror("client: write stdout");
                return 1;
            }
        }
        if (pf[0].revents & POLLOUT) {
            ssize_t w = send(fd, out + poff, plen - poff, MSG_NOSIGNAL);
            if (w < 0 && errno != EAGAIN && errno != EINTR) {
                perror("client: send");
                rc = 1, in_open = 0, plen = poff = 0;
                shutdown(fd, SHUT_WR);
            } else if (w > 0 && (poff += (size_t)w) == plen) {
                plen = poff = 0;
                if (!in_open)
                    shutdown(fd, SHUT_WR);
            }
        }
        if (nfds == 2 && pf[1].revents) {
            ssize_t r = read(STDIN_FILENO, out, sizeof out);
            if (r > 0) {
                plen = (size_t)r, poff = 0;
            } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
                if (r < 0)
                    perror("client: read stdin"), rc = 1;
                in_open = 0;                         /* EOF: no more to send */
                if (shutdown(fd, SHUT_WR) < 0)
                    perror("client: shutdown"), rc = 1;
            }
        }
    }
    return rc;
}
