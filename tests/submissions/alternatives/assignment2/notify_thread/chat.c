/* chat.c - two-person chat over two POSIX message queues.
 *
 * Receiving: mq_notify(SIGEV_THREAD).  The own queue is opened O_NONBLOCK;
 * each notification runs on_notify() in a thread made by glibc, which
 * re-registers first and then drains the queue until EAGAIN, printing every
 * message with one write().  A mutex serialises the drains so that messages
 * are printed in the order they were received even if two notification
 * threads overlap.
 *
 * Sending: the main thread waits for stdin with ppoll(), which is also the
 * only place where SIGINT/SIGTERM/SIGUSR1 are unblocked (no race between a
 * flag check and a blocking call).  Lines are sent with mq_timedsend() and a
 * 200 ms timeout: while the peer's queue is full the main thread wakes up
 * five times a second to look at pending signals; the receiver thread keeps
 * draining our queue meanwhile, so two chats sending flat out cannot
 * deadlock.  When the peer's /bye arrives, the notification thread wakes the
 * main thread with pthread_kill(SIGUSR1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PEER_WAIT_SEC 10
#define SEND_SLICE_MS 200

static const char *own_name, *peer_name;
static mqd_t own_q = (mqd_t)-1, peer_q = (mqd_t)-1;
static char *rx_buf;
static size_t rx_size;                    /* own queue's mq_msgsize */
static long peer_msgsize;
static pthread_mutex_t rx_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t main_thread;
static atomic_bool peer_bye;
static atomic_bool exiting;               /* finish() started: receiver quiet */
static volatile sig_atomic_t stop_requested;
static sigset_t wait_mask;                /* main's mask inside ppoll */

static void on_signal(int sig)
{
    if (sig == SIGINT || sig == SIGTERM)
        stop_requested = 1;
    /* SIGUSR1 only interrupts ppoll() */
}

static void remove_own(void)
{
    if (own_q != (mqd_t)-1)
        mq_unlink(own_name);
}

static void die(const char *call)
{
    int err = errno;
    fprintf(stderr, "chat: %s: %s\n", call, strerror(err));
    remove_own();
    _exit(1);
}

static void finish(int code)
{
    atomic_store(&exiting, true);
    if (own_q != (mqd_t)-1) {
        /* no lock here: a receiver blocked writing to a full stdout must
         * not keep us from exiting; `exiting` makes its errors silent */
        mq_notify(own_q, NULL);
        mq_close(own_q);
        if (peer_q != (mqd_t)-1)
            mq_close(peer_q);
        if (mq_unlink(own_name) < 0)
            perror("mq_unlink");
    }
    _exit(code);
}

static void write_out(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;                        /* stdout gone: keep chatting */
        }
        p += w;
        n -= (size_t)w;
    }
}

static void on_notify(union sigval sv);

static void register_notify(void)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD;
    sev.sigev_notify_function = on_notify;
    sev.sigev_notify_attributes = NULL;
    if (mq_notify(own_q, &sev) < 0 && errno != EBUSY && !atomic_load(&exiting))
        die("mq_notify");
}

/* Re-register, then take everything that is in the queue.  A message that
 * arrives after the last EAGAIN finds the queue empty and registered, so it
 * triggers a new notification. */
static void drain(void)
{
    pthread_mutex_lock(&rx_lock);
    if (atomic_load(&exiting)) {
        pthread_mutex_unlock(&rx_lock);
        return;
    }
    register_notify();
    for (;;) {
        unsigned prio;
        ssize_t n = mq_receive(own_q, rx_buf, rx_size, &prio);
        if (n < 0) {
            if (errno == EAGAIN)
                break;
            if (errno == EINTR)
                continue;
            if (atomic_load(&exiting))
                break;                     /* queue closed under us */
            die("mq_receive");
        }
        if (n == 4 && memcmp(rx_buf, "/bye", 4) == 0) {
            atomic_store(&peer_bye, true);
            pthread_kill(main_thread, SIGUSR1);
            continue;
        }
        rx_buf[n] = '\n';
        write_out(rx_buf, (size_t)n + 1);
    }
    pthread_mutex_unlock(&rx_lock);
}

static void on_notify(union sigval sv)
{
    (void)sv;
    drain();
}

/* Deliver pending SIGINT/SIGTERM without waiting; exit 0 on a stop. */
static void check_stop(void)
{
    struct timespec zero = {0, 0};
    ppoll(NULL, 0, &zero, &wait_mask);
    if (stop_requested)
        finish(0);
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void send_msg(const char *p, size_t n, unsigned prio)
{
    if ((long)n > peer_msgsize) {
        fprintf(stderr, "chat: line of %zu bytes cut to %ld\n", n, peer_msgsize);
        n = (size_t)peer_msgsize;
    }
    for (;;) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_nsec += SEND_SLICE_MS * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
        if (mq_timedsend(peer_q, p, n, prio, &dl) == 0)
            return;
        if (errno != ETIMEDOUT && errno != EINTR)
            die("mq_send");
        check_stop();                      /* peer's queue full: still alive? */
    }
}

/* Returns false if the line was "/bye" (then we are done typing). */
static bool send_line(char *p, size_t n)
{
    if (n == 4 && memcmp(p, "/bye", 4) == 0)
        return false;
    if (n > 0 && p[0] == '!')
        send_msg(p + 1, n - 1, 10);
    else
        send_msg(p, n, 0);
    return true;
}

static void open_peer(void)
{
    double start = now_mono();
    for (;;) {
        peer_q = mq_open(peer_name, O_WRONLY | O_CLOEXEC);
        if (peer_q != (mqd_t)-1)
            break;
        if (errno != ENOENT)
            die("mq_open");
        double left = start + PEER_WAIT_SEC - now_mono();
        if (left <= 0) {
            fprintf(stderr, "chat: %s did not appear within %d s\n",
                    peer_name, PEER_WAIT_SEC);
            remove_own();
            _exit(1);
        }
        double slice = left < 0.05 ? left : 0.05;
        struct timespec ts = { 0, (long)(slice * 1e9) };
        ppoll(NULL, 0, &ts, &wait_mask);   /* sleeps, but wakes on a signal */
        if (stop_requested)
            finish(0);
    }
    struct mq_attr a;
    if (mq_getattr(peer_q, &a) < 0)
        die("mq_getattr");
    peer_msgsize = a.mq_msgsize;
}

int main(int argc, char **argv)
{
    if (argc != 3 || argv[1][0] != '/' || argv[2][0] != '/') {
        fprintf(stderr, "usage: %s /OWN_QUEUE /PEER_QUEUE\n", argv[0]);
        return 1;
    }
    own_name = argv[1];
    peer_name = argv[2];
    main_thread = pthread_self();

    /* Blocked before any thread exists: every thread inherits the mask,
     * and the signals are only ever taken inside main's ppoll(). */
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &block, &wait_mask);
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGTERM);
    sigdelset(&wait_mask, SIGUSR1);
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    struct mq_attr attr = { .mq_maxmsg = 10, .mq_msgsize = 1024 };
    own_q = mq_open(own_name, O_RDONLY | O_CREAT | O_NONBLOCK | O_CLOEXEC,
                    0600, &attr);
    if (own_q == (mqd_t)-1) {
        perror("mq_open");                 /* nothing of ours to remove */
        return 1;
    }
    struct mq_attr got;
    if (mq_getattr(own_q, &got) < 0)
        die("mq_getattr");
    rx_size = (size_t)got.mq_msgsize;      /* a leftover may have 8192 */
    rx_buf = malloc(rx_size + 1);
    if (!rx_buf)
        die("malloc");

    drain();                               /* registers; prints early birds */
    open_peer();

    size_t cap = 65536, len = 0;
    char *in = malloc(cap);
    if (!in)
        die("malloc");
    bool typing = true;
    while (typing) {
        struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
        int r = ppoll(&p, 1, NULL, &wait_mask);
        if (stop_requested)
            finish(0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            die("ppoll");
        }
        if (len == cap) {                  /* a very long line: grow */
            char *bigger = realloc(in, cap * 2);
            if (!bigger)
                die("realloc");
            in = bigger;
            cap *= 2;
        }
        ssize_t n = read(STDIN_FILENO, in + len, cap - len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            perror("chat: read stdin");
            n = 0;
        }
        if (n == 0) {                      /* EOF: a last line without \n */
            if (len > 0)
                send_line(in, len);
            break;
        }
        len += (size_t)n;
        size_t start = 0;
        char *nl;
        while (typing && (nl = memchr(in + start, '\n', len - start)) != NULL) {
            typing = send_line(in + start, (size_t)(nl - (in + start)));
            start = (size_t)(nl - in) + 1;
        }
        memmove(in, in + start, len - start);
        len -= start;
    }

    send_msg("/bye", 4, 0);
    while (!atomic_load(&peer_bye)) {
        ppoll(NULL, 0, NULL, &wait_mask);  /* SIGUSR1 from the receiver */
        if (stop_requested)
            finish(0);
    }
    finish(0);
}
