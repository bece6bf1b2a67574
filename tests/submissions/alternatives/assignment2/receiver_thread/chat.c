/* chat: receiving thread + blocking sends from the main thread; signals via sigwait thread. */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *own_name;
static mqd_t own_q = (mqd_t)-1, peer_q = (mqd_t)-1;
static long own_msgsize;

static void die(const char *call)
{
    perror(call);
    if (own_q != (mqd_t)-1)
        mq_unlink(own_name);
    _exit(1);
}

static void *signal_thread(void *arg)
{
    sigset_t *set = arg;
    int sig;
    while (sigwait(set, &sig) != 0)
        ;
    mq_unlink(own_name);   /* ENOENT if we never created it: harmless */
    _exit(0);
}

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

static void *receiver(void *arg)
{
    (void)arg;
    char *buf = malloc((size_t)own_msgsize + 1);
    if (!buf)
        die("malloc");
    for (;;) {
        ssize_t n = mq_receive(own_q, buf, (size_t)own_msgsize, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("mq_receive");
        }
        if (n == 4 && memcmp(buf, "/bye", 4) == 0)
            break;
        buf[n] = '\n';
        if (write_all(STDOUT_FILENO, buf, (size_t)n + 1) < 0)
            die("write");
    }
    free(buf);
    return NULL;
}

static void send_msg(const char *p, size_t n, unsigned prio)
{
    while (mq_send(peer_q, p, n, prio) < 0)
        if (errno != EINTR)
            die("mq_send");
}

int main(int argc, char **argv)
{
    if (argc != 3 || argv[1][0] != '/' || argv[2][0] != '/') {
        fprintf(stderr, "usage: %s OWN_QUEUE PEER_QUEUE (names start with '/')\n", argv[0]);
        return 1;
    }
    own_name = argv[1];

    static sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);   /* inherited by every thread we create */
    pthread_t st, rt;
    if ((errno = pthread_create(&st, NULL, signal_thread, &set)) != 0)
        die("pthread_create");

    struct mq_attr attr = { .mq_maxmsg = 10, .mq_msgsize = 1024 };
    own_q = mq_open(own_name, O_RDONLY | O_CREAT, 0600, &attr);
    if (own_q == (mqd_t)-1)
        die("mq_open");
    if (mq_getattr(own_q, &attr) < 0)
        die("mq_getattr");
    own_msgsize = attr.mq_msgsize;

    struct timespec start, now, pause = { 0, 50 * 1000 * 1000 };
    clock_gettime(CLOCK_MONOTONIC, &start);
    while ((peer_q = mq_open(argv[2], O_WRONLY)) == (mqd_t)-1) {
        if (errno != ENOENT)
            die("mq_open");
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) >= 10000000000L) {
            fprintf(stderr, "chat: peer queue %s did not appear within 10 s\n", argv[2]);
            mq_close(own_q);
            mq_unlink(own_name);
            return 1;
        }
        nanosleep(&pause, NULL);
    }

    if ((errno = pthread_create(&rt, NULL, receiver, NULL)) != 0)
        die("pthread_create");

    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        if (len > 0 && line[0] == '!')
            send_msg(line + 1, (size_t)len - 1, 10);
        else
            send_msg(line, (size_t)len, 0);
    }
    free(line);
    send_msg("/bye", 4, 0);
    pthread_join(rt, NULL);   /* the receiver returns once the peer's /bye arrived */

    mq_close(peer_q);
    mq_close(own_q);
    if (mq_unlink(own_name) < 0)
        die("mq_unlink");
    return 0;
}
