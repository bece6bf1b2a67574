/* chat: one thread, poll() on stdin, both O_NONBLOCK queues and a signalfd; a line that
   meets a full peer queue stays pending until the queue polls writable. */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

static const char *own_name;
static int own_created;

static void fail(const char *call)
{
    perror(call);
    if (own_created)
        mq_unlink(own_name);
    exit(1);
}

static void put(const char *msg)
{
    write(STDERR_FILENO, msg, strlen(msg));
}

static long ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static void out(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            fail("write");
        p += w;
        n -= (size_t)w;
    }
}

int main(int argc, char **argv)
{
    if (argc != 3 || argv[1][0] != '/' || argv[2][0] != '/') {
        put("usage: chat /OWN_QUEUE /PEER_QUEUE\n");
        return 1;
    }
    own_name = argv[1];

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
    if (sfd < 0)
        fail("signalfd");

    struct mq_attr attr = { .mq_maxmsg = 10, .mq_msgsize = 1024 };
    mqd_t own = mq_open(own_name, O_RDONLY | O_CREAT | O_NONBLOCK, 0600, &attr);
    if (own == (mqd_t)-1)
        fail("mq_open");
    own_created = 1;
    if (mq_getattr(own, &attr) < 0)
        fail("mq_getattr");
    size_t rsize = (size_t)attr.mq_msgsize;
    char *rbuf = malloc(rsize + 1);
    if (!rbuf)
        fail("malloc");

    mqd_t peer;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while ((peer = mq_open(argv[2], O_WRONLY | O_NONBLOCK)) == (mqd_t)-1) {
        if (errno != ENOENT)
            fail("mq_open");
        if (ms_since(&t0) >= 10000) {
            put("chat: the peer's queue did not appear within 10 s\n");
            mq_close(own);
            mq_unlink(own_name);
            return 1;
        }
        struct pollfd sp = { .fd = sfd, .events = POLLIN };
        if (poll(&sp, 1, 25) > 0) {   /* a signal while waiting for the peer */
            mq_close(own);
            mq_unlink(own_name);
            return 0;
        }
    }

    static char in[4 * 1024 + 8];   /* unsent bytes read from stdin */
    size_t have = 0;
    int eof = 0, bye_sent = 0, peer_bye = 0, blocked = 0;

    while (!(bye_sent && peer_bye)) {
        /* send every complete line we hold, until the peer queue is full */
        while (!bye_sent && !blocked) {
            char *nl = memchr(in, '\n', have);
            const char *msg = in;
            size_t len, used;
            if (nl)
                len = (size_t)(nl - in), used = len + 1;
            else if (have == sizeof in || (eof && have > 0))
                len = used = have;           /* over-long line, or last line without \n */
            else if (eof)
                msg = "/bye", len = 4, used = 0;
            else
                break;
            unsigned prio = 0;
            if (used > 0 && len > 0 && msg[0] == '!')
                msg++, len--, prio = 10;
            if (mq_send(peer, msg, len, prio) < 0) {
                if (errno == EAGAIN) {
                    blocked = 1;
                    break;
                }
                if (errno == EINTR)
                    continue;
                fail("mq_send");
            }
            if (used == 0)
                bye_sent = 1;
            have -= used;
            memmove(in, in + used, have);
        }
        if (bye_sent && peer_bye)
            break;

        struct pollfd p[4] = {
            { .fd = sfd, .events = POLLIN },
            { .fd = (int)own, .events = POLLIN },
            { .fd = (eof || blocked || memchr(in, '\n', have)) ? -1 : STDIN_FILENO, .events = POLLIN },
            { .fd = blocked ? (int)peer : -1, .events = POLLOUT },
        };
        if (poll(p, 4, -1) < 0) {
            if (errno == EINTR)
                continue;
            fail("poll");
        }
        if (p[3].revents)
            blocked = 0;   /* the peer queue has room again: retry the pending line */
        if (p[0].revents) {
            mq_close(own);
            mq_close(peer);
            mq_unlink(own_name);
            return 0;
        }
        if (p[1].revents) {
            for (int i = 0; i < 10; i++) {
                ssize_t n = mq_receive(own, rbuf, rsize, NULL);
                if (n < 0) {
                    if (errno == EAGAIN)
                        break;
                    if (errno == EINTR)
                        continue;
                    fail("mq_receive");
                }
                if (n == 4 && memcmp(rbuf, "/bye", 4) == 0) {
                    peer_bye = 1;
                    continue;
                }
                rbuf[n] = '\n';
                out(rbuf, (size_t)n + 1);
            }
        }
        if (p[2].revents) {
            ssize_t r = read(STDIN_FILENO, in + have, sizeof in - have);
            if (r < 0 && errno != EINTR && errno != EAGAIN)
                fail("read");
            if (r == 0)
                eof = 1;
            if (r > 0)
                have += (size_t)r;
        }
    }

    free(rbuf);
    mq_close(peer);
    mq_close(own);
    if (mq_unlink(own_name) < 0)
        fail("mq_unlink");
    return 0;
}
