/* chat.c - two-person chat over two POSIX message queues.
 *
 * One thread, driven by signals only; every signal it cares about is
 * blocked for its whole life and taken with sigtimedwait():
 *   SIGRTMIN   mq_notify(SIGEV_SIGNAL) on the own queue: a message arrived
 *              in the empty queue.  We re-register, then drain the queue
 *              (opened O_NONBLOCK) until EAGAIN, printing each message.
 *   SIGIO      stdin is in O_ASYNC mode (F_SETOWN = us): input arrived, or
 *              the writer closed.  poll() with a zero timeout then tells
 *              whether a read() would block; we never block in read().
 *   SIGINT/SIGTERM   remove the own queue and exit 0.
 * The peer's queue is opened O_NONBLOCK.  When it is full, the unsent line
 * stays pending and the loop retries it after a short back-off (1 ms,
 * doubling up to 64 ms while no send succeeds, back to 1 ms after one that
 * does) or sooner when another signal wakes it; meanwhile it
 * keeps receiving, so two chats sending flat out cannot deadlock.
 * If stdin cannot be put in O_ASYNC mode and is not a regular file, stdin
 * is checked every 50 ms instead.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "linebuf.h"

#define PEER_WAIT_NS (10LL * 1000000000LL)

static const char *own_name, *peer_name;
static mqd_t own_q = (mqd_t)-1, peer_q = (mqd_t)-1;
static char *rx_buf;
static size_t rx_size;
static long peer_msgsize = 1024;
static int stdin_flags = -1;             /* to restore at exit */
static sigset_t waitset;
static int sig_mq;
static bool peer_bye;

static void restore_stdin(void)
{
    if (stdin_flags != -1)
        fcntl(STDIN_FILENO, F_SETFL, stdin_flags);
}

static void die(const char *call)
{
    fprintf(stderr, "chat: %s: %s\n", call, strerror(errno));
    restore_stdin();
    if (own_q != (mqd_t)-1)
        mq_unlink(own_name);
    exit(1);
}

static void finish(void)
{
    restore_stdin();
    mq_close(own_q);
    if (peer_q != (mqd_t)-1)
        mq_close(peer_q);
    if (mq_unlink(own_name) < 0)
        perror("mq_unlink");
    exit(0);
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void print_msg(size_t n)
{
    rx_buf[n] = '\n';
    const char *p = rx_buf;
    size_t left = n + 1;
    while (left > 0) {
        ssize_t w = write(STDOUT_FILENO, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        left -= (size_t)w;
    }
}

/* Register for the next notification, then empty the queue. */
static void drain_own(void)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = sig_mq;
    if (mq_notify(own_q, &sev) < 0 && errno != EBUSY)
        die("mq_notify");
    for (;;) {
        ssize_t n = mq_receive(own_q, rx_buf, rx_size, NULL);
        if (n < 0) {
            if (errno == EAGAIN)
                return;
            if (errno == EINTR)
                continue;
            die("mq_receive");
        }
        if (n == 4 && memcmp(rx_buf, "/bye", 4) == 0)
            peer_bye = true;
        else
            print_msg((size_t)n);
    }
}

/* Wait for one signal (at most timeout_ns, < 0 = forever) and act on it. */
static void wait_and_dispatch(long long timeout_ns)
{
    siginfo_t si;
    int sig;
    if (timeout_ns < 0) {
        sig = sigwaitinfo(&waitset, &si);
    } else {
        struct timespec ts = { timeout_ns / 1000000000LL,
                               timeout_ns % 1000000000LL };
        sig = sigtimedwait(&waitset, &si, &ts);
    }
    if (sig < 0)
        return;                          /* EAGAIN (timeout) or EINTR */
    if (sig == SIGINT || sig == SIGTERM)
        finish();
    if (sig == sig_mq)
        drain_own();
    /* SIGIO: nothing to do here, the main loop looks at stdin */
}

static bool stdin_ready(void)
{
    struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
    return poll(&p, 1, 0) > 0;           /* POLLIN, POLLHUP or POLLERR */
}

/* true: sent; false: the peer's queue is full, try again later */
static bool try_send(const char *p, size_t n)
{
    unsigned prio = 0;
    if (n > 0 && p[0] == '!') {
        p++;
        n--;
        prio = 10;
    }
    if ((long)n > peer_msgsize) {
        fprintf(stderr, "chat: line of %zu bytes cut to %ld\n", n, peer_msgsize);
        n = (size_t)peer_msgsize;
    }
    for (;;) {
        if (mq_send(peer_q, p, n, prio) == 0)
            return true;
        if (errno == EAGAIN)
            return false;
        if (errno != EINTR)
            die("mq_send");
    }
}

static void open_peer(void)
{
    long long deadline = now_ns() + PEER_WAIT_NS;
    for (;;) {
        peer_q = mq_open(peer_name, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (peer_q != (mqd_t)-1)
            break;
        if (errno != ENOENT)
            die("mq_open");
        long long left = deadline - now_ns();
        if (left <= 0) {
            fprintf(stderr, "chat: %s did not appear within 10 s\n", peer_name);
            restore_stdin();
            mq_unlink(own_name);
            exit(1);
        }
        wait_and_dispatch(left < 50000000LL ? left : 50000000LL);
    }
    struct mq_attr a;
    if (mq_getattr(peer_q, &a) < 0)
        die("mq_getattr");
    peer_msgsize = a.mq_msgsize;
}

/* Put stdin in O_ASYNC mode; false if SIGIO cannot be relied on. */
static bool setup_sigio(void)
{
    struct stat st;
    if (fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode))
        return true;                     /* always readable: no need */
    int fl = fcntl(STDIN_FILENO, F_GETFL);
    if (fl < 0)
        return false;
    if (fcntl(STDIN_FILENO, F_SETOWN, getpid()) < 0)
        return false;
    stdin_flags = fl;
    if (fcntl(STDIN_FILENO, F_SETFL, fl | O_ASYNC) < 0) {
        stdin_flags = -1;
        return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    if (argc != 3 || argv[1][0] != '/' || argv[2][0] != '/') {
        fprintf(stderr, "usage: %s /OWN_QUEUE /PEER_QUEUE\n", argv[0]);
        return 1;
    }
    own_name = argv[1];
    peer_name = argv[2];

    sig_mq = SIGRTMIN;
    sigemptyset(&waitset);
    sigaddset(&waitset, SIGINT);
    sigaddset(&waitset, SIGTERM);
    sigaddset(&waitset, SIGIO);
    sigaddset(&waitset, sig_mq);
    sigprocmask(SIG_BLOCK, &waitset, NULL);   /* taken by sigtimedwait only */
    signal(SIGPIPE, SIG_IGN);

    struct mq_attr attr = { .mq_maxmsg = 10, .mq_msgsize = 1024 };
    own_q = mq_open(own_name, O_RDONLY | O_CREAT | O_NONBLOCK | O_CLOEXEC,
                    0600, &attr);
    if (own_q == (mqd_t)-1) {
        perror("mq_open");
        return 1;
    }
    struct mq_attr got;
    if (mq_getattr(own_q, &got) < 0)
        die("mq_getattr");
    rx_size = (size_t)got.mq_msgsize;
    if (!(rx_buf = malloc(rx_size + 1)))
        die("malloc");
    drain_own();                          /* registers the notification */
    open_peer();

    bool sigio_ok = setup_sigio();
    struct linebuf in;
    if (linebuf_init(&in, 65536) < 0)
        die("malloc");
    bool stdin_eof = false, typing = true, bye_sent = false, blocked = false;
    long long backoff = 1000000LL;        /* 1 ms */

    for (;;) {
        /* send what we can */
        blocked = false;
        char *line;
        size_t len;
        while (typing && linebuf_peek(&in, stdin_eof, &line, &len)) {
            if (len == 4 && memcmp(line, "/bye", 4) == 0) {
                typing = false;           /* a typed /bye ends like EOF */
                break;
            }
            if (!try_send(line, len)) {
                blocked = true;
                break;
            }
            linebuf_consume(&in);
            backoff = 1000000LL;          /* progress: retry fast next time */
        }
        if (!blocked && typing && !stdin_eof && stdin_ready()) {
            ssize_t n = linebuf_fill(&in, STDIN_FILENO);
            if (n < 0 && errno != EINTR && errno != EAGAIN) {
                perror("chat: read stdin");
                stdin_eof = true;
            } else if (n == 0) {
                stdin_eof = true;
            }
            continue;                     /* send the new lines first */
        }
        if (!blocked && (stdin_eof || !typing) && !bye_sent) {
            if (try_send("/bye", 4))
                bye_sent = true;
            else
                blocked = true;
        }
        if (bye_sent && peer_bye)
            finish();

        if (blocked) {
            wait_and_dispatch(backoff);
            backoff = backoff < 64000000LL ? backoff * 2 : backoff;
        } else {
            backoff = 1000000LL;
            bool stdin_waits = typing && !stdin_eof;
            wait_and_dispatch(stdin_waits && !sigio_ok ? 50000000LL : -1);
        }
    }
}
