/* server.c - UNIX domain socket sum server serving many clients at once.
 *
 * One thread, one epoll instance, level-triggered, non-blocking sockets.
 * Every client has its own input line buffer, its own round total and its
 * own output queue, so a client that does not read its replies only stalls
 * itself (its input is no longer read once its output queue is large).
 *
 * SIGINT/SIGTERM are blocked all the time except inside epoll_pwait(), which
 * unblocks them atomically (the epoll analogue of ppoll): the flag-setting
 * handler can only run there, so there is no check-then-block race.
 *
 * Lines are checked by hand (sign, then digits only) and converted with
 * checked 64-bit arithmetic (__builtin_mul/add_overflow), not strtoll().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define LINE_MAX_KEEP  8192          /* longer lines are one ERROR */
#define OUT_HIGH       (256 * 1024)  /* stop reading a client above this */
#define READS_PER_WAKE 8             /* fairness between clients */

struct client {
    int fd;
    struct client *prev, *next;   /* list of live clients, for shutdown */
    uint32_t events;              /* what epoll watches now */
    bool eof, dead;
    long long total;
    bool overflow;
    size_t len;
    char line[LINE_MAX_KEEP + 1];
    char *out;
    size_t out_off, out_len, out_cap;
};

static volatile sig_atomic_t stop_flag;
static struct client *clients;
static int ep = -1, lfd = -1;
static bool listen_paused;        /* out of descriptors: accept later */

static void on_stop(int sig) { (void)sig; stop_flag = 1; }

static bool parse_number(const char *s, size_t len, long long *val)
{
    if (len > 0 && s[len - 1] == '\r')
        len--;
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == len)
        return false;              /* empty, "+", "-" */
    /* accumulate negatively: -9223372036854775808 fits, its opposite not */
    long long v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;          /* space, letter, NUL, '\r' inside... */
        if (__builtin_mul_overflow(v, 10, &v) ||
            __builtin_sub_overflow(v, s[i] - '0', &v))
            return false;
    }
    if (!neg && __builtin_mul_overflow(v, -1, &v))
        return false;
    *val = v;
    return true;
}

static void queue_out(struct client *c, const char *s, size_t n)
{
    if (c->dead)
        return;
    if (c->out_off > 0 && c->out_len + n > c->out_cap) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + n)
            cap *= 2;
        char *p = realloc(c->out, cap);
        if (!p) {                  /* cannot keep its replies: drop it */
            c->dead = true;
            return;
        }
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
}

static void end_line(struct client *c)
{
    long long v;
    if (c->overflow || !parse_number(c->line, c->len, &v)) {
        queue_out(c, "ERROR\n", 6);
    } else if (v == 0) {
        char buf[32];
        int n = snprintf(buf, sizeof buf, "SUM %lld\n", c->total);
        queue_out(c, buf, (size_t)n);
        c->total = 0;
    } else {
        c->total = (long long)((unsigned long long)c->total + (unsigned long long)v);
    }
    c->len = 0;
    c->overflow = false;
}

static void feed(struct client *c, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        size_t room = LINE_MAX_KEEP - c->len;
        if (take > room) {
            c->overflow = true;
            memcpy(c->line + c->len, p, room);
            c->len = LINE_MAX_KEEP;
        } else {
            memcpy(c->line + c->len, p, take);
            c->len += take;
        }
        if (!nl)
            return;
        end_line(c);
        p = nl + 1;
        n -= take + 1;
    }
}

static size_t pending_out(const struct client *c) { return c->out_len - c->out_off; }

static void flush_client(struct client *c)
{
    while (!c->dead && pending_out(c) > 0) {
        ssize_t n = send(c->fd, c->out + c->out_off, pending_out(c),
                         MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                c->dead = true;    /* EPIPE, ECONNRESET: it is gone */
            return;
        }
        c->out_off += (size_t)n;
    }
    if (pending_out(c) == 0)
        c->out_off = c->out_len = 0;
}

static void resume_listen(void)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    if (listen_paused && epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) == 0)
        listen_paused = false;
}

static void close_client(struct client *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (c->prev) c->prev->next = c->next; else clients = c->next;
    if (c->next) c->next->prev = c->prev;
    free(c->out);
    free(c);
    resume_listen();               /* a descriptor is free again */
}

static void set_interest(struct client *c)
{
    uint32_t want = 0;
    if (!c->eof && pending_out(c) < OUT_HIGH)
        want |= EPOLLIN;
    if (pending_out(c) > 0)
        want |= EPOLLOUT;
    if (want != c->events) {
        struct epoll_event ev = { .events = want, .data.ptr = c };
        if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
            c->events = want;
    }
}

static void client_event(struct client *c, uint32_t ev)
{
    char buf[4096];
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        for (int i = 0; i < READS_PER_WAKE && !c->eof && !c->dead &&
                        pending_out(c) < OUT_HIGH; i++) {
            ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) {
                feed(c, buf, (size_t)n);
            } else if (n == 0) {
                if (c->len > 0 || c->overflow)
                    end_line(c);   /* last line without '\n' */
                c->eof = true;     /* the unfinished round is dropped */
            } else if (errno == EAGAIN) {
                break;
            } else if (errno != EINTR) {
                c->dead = true;
            }
        }
    }
    flush_client(c);
    if (c->dead || (c->eof && pending_out(c) == 0))
        close_client(c);
    else
        set_interest(c);
}

static void accept_clients(void)
{
    for (int i = 0; i < 64; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                perror("accept");
                /* stop watching the listener until a client leaves (or
                 * for 100 ms, see main): no busy loop on EMFILE */
                if (epoll_ctl(ep, EPOLL_CTL_DEL, lfd, NULL) == 0)
                    listen_paused = true;
            } else if (errno != EAGAIN && errno != EINTR &&
                       errno != ECONNABORTED) {
                perror("accept");
            }
            return;
        }
        struct client *c = calloc(1, sizeof *c);
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        if (!c || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            perror(c ? "epoll_ctl" : "calloc");
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->events = EPOLLIN;
        c->next = clients;
        if (clients)
            clients->prev = c;
        clients = c;
    }
}

/* What is at path?  Returns 0 if it is free (or was a stale socket, now
 * removed); exits 1 if it must not be touched or a live server is there. */
static void clear_path(const struct sockaddr_un *a)
{
    struct stat st;
    if (lstat(a->sun_path, &st) < 0)
        return;                    /* nothing there (or bind will say why) */
    if (!S_ISSOCK(st.st_mode)) {
        fprintf(stderr, "server: %s is not a socket, refusing to touch it\n",
                a->sun_path);
        exit(1);
    }
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        perror("socket");
        exit(1);
    }
    int r = connect(s, (const struct sockaddr *)a, sizeof *a);
    int err = errno;
    close(s);
    if (r == 0) {
        fprintf(stderr, "server: a live server already listens on %s\n",
                a->sun_path);
        exit(1);
    }
    if (err == ECONNREFUSED) {
        fprintf(stderr, "server: removing stale socket file %s\n", a->sun_path);
        if (unlink(a->sun_path) < 0 && errno != ENOENT) {
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
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(argv[1]) == 0 || strlen(argv[1]) >= sizeof addr.sun_path) {
        fprintf(stderr, "server: socket path too long or empty\n");
        return 2;
    }
    strcpy(addr.sun_path, argv[1]);

    /* Block the stop signals first, so that they can only be handled
     * inside epoll_pwait() (or are still pending when we get there). */
    sigset_t stopset, waitmask;
    sigemptyset(&stopset);
    sigaddset(&stopset, SIGINT);
    sigaddset(&stopset, SIGTERM);
    sigprocmask(SIG_BLOCK, &stopset, &waitmask);
    sigdelset(&waitmask, SIGINT);
    sigdelset(&waitmask, SIGTERM);
    struct sigaction sa = { .sa_handler = on_stop };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    clear_path(&addr);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0) {
        perror("socket");
        return 1;
    }
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("bind");
        return 1;
    }
    if (listen(lfd, 64) < 0) {
        perror("listen");
        unlink(addr.sun_path);
        return 1;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
        perror("epoll");
        unlink(addr.sun_path);
        return 1;
    }
    fprintf(stderr, "server: listening on %s\n", addr.sun_path);

    struct epoll_event evs[64];
    int rc = 0;
    while (!stop_flag) {
        int n = epoll_pwait(ep, evs, 64, listen_paused ? 100 : -1, &waitmask);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("epoll_pwait");
            rc = 1;
            break;
        }
        if (n == 0)
            resume_listen();
        for (int i = 0; i < n && !stop_flag; i++) {
            if (evs[i].data.ptr == NULL)
                accept_clients();
            else
                client_event(evs[i].data.ptr, evs[i].events);
        }
    }
    while (clients)
        close_client(clients);
    close(lfd);
    close(ep);
    if (unlink(addr.sun_path) < 0)
        perror("unlink");
    return rc;
}
