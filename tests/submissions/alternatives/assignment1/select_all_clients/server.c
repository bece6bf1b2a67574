/* Sum server: single thread, select() over the listening socket, a self-pipe
 * for SIGTERM/SIGINT and every client (each with its own line buffer and
 * round total). Replies use send(MSG_NOSIGNAL); SIGPIPE keeps its default. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define LINECAP 4100

struct client {
    size_t len;
    int toolong;
    long long total;
    char buf[LINECAP];
};

static struct client *clients[FD_SETSIZE];
static int wake[2];
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    int saved = errno;
    (void)sig;
    stop = 1;
    (void)write(wake[1], "x", 1);
    errno = saved;
}

/* sign, digits, then compare the digit string with the 64-bit limit */
static int parse(const char *s, size_t n, long long *v)
{
    size_t i = 0, k;
    int neg = 0;
    unsigned long long m = 0;

    if (n > 0 && (s[0] == '+' || s[0] == '-'))
        neg = s[0] == '-', i = 1;
    if (i == n)
        return 0;
    for (k = i; k < n; k++)
        if (s[k] < '0' || s[k] > '9')
            return 0;
    while (i + 1 < n && s[i] == '0')
        i++;
    if (n - i > 19 || (n - i == 19 &&
        memcmp(s + i, neg ? "9223372036854775808" : "9223372036854775807", 19) > 0))
        return 0;
    for (; i < n; i++)
        m = m * 10 + (unsigned)(s[i] - '0');
    *v = neg ? (long long)(0 - m) : (long long)m;
    return 1;
}

static int send_reply(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR && !stop)
                continue;
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static int finish_line(int fd, struct client *c)
{
    size_t n = c->len;
    long long v;
    char out[48];
    int bad = c->toolong;

    if (n > 0 && c->buf[n - 1] == '\r')
        n--;
    c->len = 0, c->toolong = 0;
    if (bad || !parse(c->buf, n, &v))
        return send_reply(fd, "ERROR\n", 6);
    if (v != 0) {
        c->total = (long long)((unsigned long long)c->total + (unsigned long long)v);
        return 0;
    }
    n = (size_t)snprintf(out, sizeof out, "SUM %lld\n", c->total);
    c->total = 0;
    return send_reply(fd, out, n);
}

static void drop(int fd)
{
    free(clients[fd]);
    clients[fd] = NULL;
    close(fd);
}

/* one read for a readable client; the connection is closed at EOF or error */
static void on_readable(int fd)
{
    struct client *c = clients[fd];
    char in[4096];
    ssize_t r = read(fd, in, sizeof in);

    if (r < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (r <= 0) {
        if (r == 0 && (c->len > 0 || c->toolong))
            finish_line(fd, c);               /* last line without \n */
        drop(fd);
        return;
    }
    for (ssize_t i = 0; i < r; i++) {
        if (in[i] == '\n') {
            if (finish_line(fd, c) < 0)
                return drop(fd);
        } else if (c->len < LINECAP) {
            c->buf[c->len++] = in[i];
        } else {
            c->toolong = 1;
        }
    }
}

/* connect() test: refused + socket file = stale, so unlink; else refuse */
static int take_path(const char *path, const struct sockaddr_un *addr)
{
    struct stat st;
    int probe = socket(AF_UNIX, SOCK_STREAM, 0), live;

    if (probe < 0)
        return perror("socket"), -1;
    live = connect(probe, (const struct sockaddr *)addr, sizeof *addr) == 0;
    int err = errno;
    close(probe);
    if (live)
        return fprintf(stderr, "server: %s is in use by a running server\n", path), -1;
    if (err == ENOENT)
        return 0;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : (perror("lstat"), -1);
    if (!S_ISSOCK(st.st_mode))
        return fprintf(stderr, "server: %s exists and is not a socket\n", path), -1;
    if (err != ECONNREFUSED) {
        errno = err;
        return perror("connect"), -1;
    }
    if (unlink(path) < 0)
        return perror("unlink"), -1;
    return 0;
}

int main(int argc, char **argv)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    struct sigaction sa;
    int lfd;

    if (argc != 2 || strlen(argv[1]) >= sizeof addr.sun_path) {
        fprintf(stderr, "usage: %s SOCKET_PATH\n", argv[0]);
        return 2;
    }
    strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
    if (pipe2(wake, O_NONBLOCK | O_CLOEXEC) < 0) {
        perror("pipe2");
        return 1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    if (take_path(argv[1], &addr) < 0)
        return 1;
    if ((lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
        perror("socket");
        return 1;
    }
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("bind");
        return 1;
    }
    if (listen(lfd, 64) < 0) {
        perror("listen");
        unlink(argv[1]);
        return 1;
    }

    while (!stop) {
        fd_set rs;
        int maxfd = lfd > wake[0] ? lfd : wake[0];
        FD_ZERO(&rs);
        FD_SET(lfd, &rs);
        FD_SET(wake[0], &rs);
        for (int fd = 0; fd < FD_SETSIZE; fd++)
            if (clients[fd]) {
                FD_SET(fd, &rs);
                if (fd > maxfd)
                    maxfd = fd;
            }
        if (select(maxfd + 1, &rs, NULL, NULL, NULL) < 0) {
            if (errno == EINTR)
                continue;
            perror("select");
            break;
        }
        if (stop || FD_ISSET(wake[0], &rs))
            break;
        for (int fd = 0; fd <= maxfd; fd++)
            if (clients[fd] && FD_ISSET(fd, &rs))
                on_readable(fd);
        if (FD_ISSET(lfd, &rs)) {
            int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (c < 0) {
                if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                    perror("accept");
            } else if (c >= FD_SETSIZE || !(clients[c] = calloc(1, sizeof *clients[c]))) {
                fprintf(stderr, "server: cannot take another client\n");
                close(c);
            }
        }
    }

    for (int fd = 0; fd < FD_SETSIZE; fd++)
        if (clients[fd])
            drop(fd);
    close(lfd);
    unlink(argv[1]);
    return 0;
}
