/* server.c - UNIX domain socket sum server, one connection at a time.
 *
 * Lines are validated with strtoll(line, &end, 10): the first byte must be a
 * digit or a sign followed by a digit (strtoll would skip leading white
 * space), errno must not be ERANGE, and end must be line + len, where len is
 * the number of bytes before the '\n' minus one trailing '\r'.  A NUL byte
 * inside a line stops strtoll early, so such a line is invalid.
 *
 * SIGINT/SIGTERM use sigaction() without SA_RESTART.  To close the window
 * between "check the flag" and "block in accept()/read()", the handler also
 * shuts down the listening socket and the current connection (shutdown() is
 * async-signal-safe): a blocking accept() then fails and read() returns 0.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define LINE_CAP 8192        /* longest line kept; longer lines are one ERROR */
#define OUT_CAP  16384       /* reply buffer, flushed when nearly full */

static volatile sig_atomic_t stop_flag;
static volatile sig_atomic_t listen_fd_g = -1;
static volatile sig_atomic_t conn_fd_g = -1;

static void on_stop(int sig)
{
    (void)sig;
    int saved = errno;
    stop_flag = 1;               /* set first: see the accept() loop */
    int l = listen_fd_g, c = conn_fd_g;
    if (l >= 0)
        shutdown(l, SHUT_RDWR);
    if (c >= 0)
        shutdown(c, SHUT_RDWR);
    errno = saved;
}

/* Returns true and stores the value if line[0..len) is a valid number. */
static bool parse_line(char *line, size_t len, long long *val)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len == 0)
        return false;
    size_t i = (line[0] == '+' || line[0] == '-') ? 1 : 0;
    if (i >= len || !isdigit((unsigned char)line[i]))
        return false;            /* " 5", "+", "+ 5", "abc" */
    char saved = line[len];
    line[len] = '\0';            /* strtoll must stop inside the buffer */
    char *end;
    errno = 0;
    long long v = strtoll(line, &end, 10);
    int err = errno;
    line[len] = saved;
    if (err == ERANGE || end != line + len)
        return false;            /* overflow, "5x", "1 2", "5\0" */
    *val = v;
    return true;
}

struct conn {
    int fd;
    bool dead;                   /* a reply could not be sent */
    long long total;
    char line[LINE_CAP + 1];
    size_t len;
    bool overflow;
    char out[OUT_CAP];
    size_t outlen;
};

static void flush_out(struct conn *c)
{
    if (c->outlen > 0 && !c->dead &&
        write_all(c->fd, c->out, c->outlen, 1, &stop_flag) < 0)
        c->dead = true;          /* EPIPE: the client is gone */
    c->outlen = 0;
}

static void reply(struct conn *c, const char *s)
{
    size_t n = strlen(s);
    if (c->outlen + n > sizeof c->out)
        flush_out(c);
    memcpy(c->out + c->outlen, s, n);
    c->outlen += n;
}

static void end_of_line(struct conn *c)
{
    long long v;
    if (c->overflow || !parse_line(c->line, c->len, &v)) {
        reply(c, "ERROR\n");
    } else if (v == 0) {
        char buf[40];
        snprintf(buf, sizeof buf, "SUM %lld\n", c->total);
        reply(c, buf);
        c->total = 0;
    } else {
        /* totals fit in 64 bits by the handout; wrap instead of UB anyway */
        c->total = (long long)((unsigned long long)c->total +
                               (unsigned long long)v);
    }
    c->len = 0;
    c->overflow = false;
}

static void serve(struct conn *c)
{
    char rbuf[4096];
    c->total = 0;
    c->len = 0;
    c->overflow = false;
    c->outlen = 0;
    c->dead = false;
    while (!stop_flag && !c->dead) {
        ssize_t n = read(c->fd, rbuf, sizeof rbuf);
        if (n < 0) {
            if (errno == EINTR)
                continue;        /* loop condition checks stop_flag */
            break;               /* ECONNRESET and friends: drop client */
        }
        if (n == 0) {
            if (c->len > 0 || c->overflow)
                end_of_line(c);  /* a last line without '\n' */
            flush_out(c);
            break;
        }
        for (ssize_t i = 0; i < n; i++) {
            char ch = rbuf[i];
            if (ch == '\n')
                end_of_line(c);
            else if (c->len < LINE_CAP)
                c->line[c->len++] = ch;
            else
                c->overflow = true;
        }
        flush_out(c);
    }
}

/* Bind to path; removes a stale socket file (connect() says ECONNREFUSED).
 * Exits 1 on failure. */
static void bind_or_die(int fd, const char *path, const struct sockaddr_un *a)
{
    for (int attempt = 0;; attempt++) {
        if (bind(fd, (const struct sockaddr *)a, sizeof *a) == 0)
            return;
        int err = errno;
        struct stat st;
        if (err != EADDRINUSE || attempt > 0 || lstat(path, &st) < 0) {
            errno = err;
            perror("bind");
            exit(1);
        }
        if (!S_ISSOCK(st.st_mode)) {
            fprintf(stderr, "server: %s exists and is not a socket; "
                    "leaving it alone\n", path);
            exit(1);
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0) {
            perror("socket");
            exit(1);
        }
        int r = connect(probe, (const struct sockaddr *)a, sizeof *a);
        int cerr = errno;
        close(probe);
        if (r == 0) {
            fprintf(stderr, "server: a server already listens on %s\n", path);
            exit(1);
        }
        if (cerr != ECONNREFUSED) {
            errno = cerr;
            perror("server: connect to existing socket file");
            exit(1);
        }
        fprintf(stderr, "server: removing stale socket %s\n", path);
        if (unlink(path) < 0 && errno != ENOENT) {
            perror("unlink");
            exit(1);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s SOCKET_PATH\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];
    struct sockaddr_un addr;
    if (make_addr("server", path, &addr) < 0)
        return 2;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);       /* belt: send() uses MSG_NOSIGNAL */
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sa.sa_flags = 0;                     /* no SA_RESTART: EINTR wakes us */
    if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0) {
        perror("sigaction");
        return 1;
    }

    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0) {
        perror("socket");
        return 1;
    }
    bind_or_die(lfd, path, &addr);
    if (listen(lfd, 16) < 0) {
        perror("listen");
        close(lfd);
        unlink(path);                    /* we created it */
        return 1;
    }
    listen_fd_g = lfd;
    if (stop_flag)                       /* a signal before listen_fd_g */
        shutdown(lfd, SHUT_RDWR);
    printf("listening on %s\n", path);
    fflush(stdout);

    static struct conn c;
    while (!stop_flag) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (stop_flag)
                break;
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            perror("accept");
            /* e.g. EMFILE: do not spin, try again a little later */
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        conn_fd_g = fd;
        if (stop_flag) {                 /* the handler ran before the line above */
            conn_fd_g = -1;
            close(fd);
            break;
        }
        c.fd = fd;
        serve(&c);
        conn_fd_g = -1;                  /* before close: fd may be reused */
        close(fd);
    }

    listen_fd_g = -1;
    close(lfd);
    if (unlink(path) < 0)
        perror("unlink");
    return 0;
}
