/* chat OWN_QUEUE PEER_QUEUE: a two-way chat over two POSIX message queues.
 *
 * Receives on OWN_QUEUE (created here, or a leftover used as it is) and sends to
 * PEER_QUEUE (created by the peer; waits up to 10 s for it). Each stdin line is one
 * message; a line starting with '!' is sent without the '!' at priority 10. Each
 * message received is printed as one line. At stdin EOF sends "/bye" and prints until
 * the peer's "/bye" arrives. SIGINT/SIGTERM: remove OWN_QUEUE, exit 0.
 *
 * One thread waits on both inputs at once with ppoll(): on Linux an mqd_t is a file
 * descriptor. Both queues are non-blocking: when the peer's queue is full, the current
 * line waits in the stdin buffer, stdin is not read, and receiving goes on, so two
 * chats sending to each other at full speed never block each other.
 */
#define _GNU_SOURCE /* ppoll() */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_MESSAGES 10   /* mq_maxmsg of the queue we create */
#define MAX_LINE 1024     /* mq_msgsize of the queue we create, and longest line */
#define URGENT_PRIORITY 10
#define PEER_WAIT_SECONDS 10
#define BYE "/bye"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Reports a failed call (errno) about a queue: "chat: mq_open /name: reason". */
static void report(const char *call, const char *name)
{
    fprintf(stderr, "chat: %s %s: %s\n", call, name, strerror(errno));
}

/* Writes all n bytes. Returns 0, or -1 on error. */
static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w == -1) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Opens the peer's queue for sending, retrying while it does not exist yet, for up to
 * PEER_WAIT_SECONDS. Returns the descriptor, or (mqd_t)-1 after a report (or a signal). */
static mqd_t open_peer(const char *name)
{
    double deadline = now() + PEER_WAIT_SECONDS;
    const struct timespec pause = {.tv_nsec = 20 * 1000 * 1000}; /* 20 ms between tries */
    for (;;) {
        mqd_t q = mq_open(name, O_WRONLY | O_NONBLOCK);
        if (q != (mqd_t)-1 || stop)
            return q;
        if (errno != ENOENT) {
            report("mq_open", name);
            return (mqd_t)-1;
        }
        if (now() >= deadline) {
            fprintf(stderr, "chat: peer queue %s did not appear within %d seconds\n", name,
                    PEER_WAIT_SECONDS);
            return (mqd_t)-1;
        }
        nanosleep(&pause, NULL); /* EINTR (a signal) just ends the pause early */
    }
}

/* Bytes read from stdin and not sent yet: whole lines, maybe followed by the start of
 * the next one. A line of MAX_LINE bytes and its '\n' fit. */
static char in[MAX_LINE + 1];
static size_t in_len;

/* Finds the next message in in[]: sets *len to its length and *used to the bytes it
 * takes in in[] (with the '\n'). At EOF the last line needs no '\n'. Returns false if
 * no complete message is buffered. */
static bool next_line(bool eof, size_t *len, size_t *used)
{
    char *nl = memchr(in, '\n', in_len);
    if (nl != NULL) {
        *len = (size_t)(nl - in);
        *used = *len + 1;
        return true;
    }
    if (in_len == sizeof in || (eof && in_len > 0)) { /* longer than allowed: split it */
        *len = *used = in_len < MAX_LINE ? in_len : MAX_LINE;
        return true;
    }
    return false;
}

/* Sends every buffered line, then "/bye" at EOF. Returns 1 when all is sent, 0 when the
 * peer's queue is full (try again when it has room), -1 when mq_send failed. */
static int send_pending(mqd_t peer, bool eof, bool *bye_sent)
{
    size_t len, used;
    while (next_line(eof, &len, &used)) {
        const char *msg = in;
        unsigned priority = 0;
        if (len > 0 && in[0] == '!') {
            msg++;
            len--;
            priority = URGENT_PRIORITY;
        }
        if (mq_send(peer, msg, len, priority) == -1)
            return errno == EAGAIN ? 0 : -1;
        in_len -= used;
        memmove(in, in + used, in_len);
    }
    if (eof && !*bye_sent) {
        if (mq_send(peer, BYE, strlen(BYE), 0) == -1)
            return errno == EAGAIN ? 0 : -1;
        *bye_sent = true;
    }
    return 1;
}

/* The chat itself: returns the exit status. */
static int chat(mqd_t own, mqd_t peer, const char *own_name, const char *peer_name)
{
    struct mq_attr attr;
    if (mq_getattr(own, &attr) == -1) {
        report("mq_getattr", own_name);
        return 1;
    }
    /* The queue may be a leftover with a larger mq_msgsize: size the buffer from it. */
    char *msg = malloc((size_t)attr.mq_msgsize + 1);
    if (msg == NULL) {
        perror("malloc");
        return 1;
    }

    /* SIGINT/SIGTERM stay blocked except inside ppoll(), so none slips in between the
     * test of `stop` and the wait. */
    sigset_t block, unblocked;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &unblocked);

    bool eof = false, full = false, bye_sent = false, peer_bye = false;
    int status = 0;
    while (!stop && !(bye_sent && peer_bye)) {
        struct pollfd fds[3] = {
            {.fd = eof || full ? -1 : STDIN_FILENO, .events = POLLIN},
            {.fd = own, .events = POLLIN},
            {.fd = full ? peer : -1, .events = POLLOUT}, /* room again in the peer's queue */
        };
        if (ppoll(fds, 3, NULL, &unblocked) == -1) {
            if (errno == EINTR)
                continue;
            perror("ppoll");
            status = 1;
            break;
        }
        if (fds[1].revents & POLLIN) {
            unsigned priority;
            ssize_t n = mq_receive(own, msg, (size_t)attr.mq_msgsize, &priority);
            if (n == -1 && errno != EAGAIN) {
                report("mq_receive", own_name);
                status = 1;
                break;
            }
            if (n == (ssize_t)strlen(BYE) && memcmp(msg, BYE, strlen(BYE)) == 0) {
                peer_bye = true;
            } else if (n >= 0) {
                msg[n] = '\n';
                if (write_all(STDOUT_FILENO, msg, (size_t)n + 1) == -1) {
                    perror("write");
                    status = 1;
                    break;
                }
            }
        }
        if (fds[0].revents) { /* POLLIN, or POLLHUP at the end of a pipe */
            ssize_t n = read(STDIN_FILENO, in + in_len, sizeof in - in_len);
            if (n == -1) {
                perror("read");
                status = 1;
                break;
            }
            eof = n == 0;
            in_len += (size_t)n;
        }
        int sent = send_pending(peer, eof, &bye_sent);
        if (sent == -1) {
            report("mq_send", peer_name);
            status = 1;
            break;
        }
        full = sent == 0;
    }
    free(msg);
    return status;
}

int main(int argc, char *argv[])
{
    if (argc != 3 || argv[1][0] != '/' || argv[2][0] != '/') {
        fprintf(stderr, "usage: %s OWN_QUEUE PEER_QUEUE (names start with '/')\n", argv[0]);
        return 1;
    }
    const char *own_name = argv[1], *peer_name = argv[2];

    /* No SA_RESTART: a signal must interrupt nanosleep() and ppoll(). */
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) == -1 || sigaction(SIGTERM, &sa, NULL) == -1) {
        perror("sigaction");
        return 1;
    }

    /* O_CREAT without O_EXCL: a queue left by an earlier run is used as it is (the peer
     * may have opened it already); attr only applies when the queue is created. */
    struct mq_attr attr = {.mq_maxmsg = MAX_MESSAGES, .mq_msgsize = MAX_LINE};
    mqd_t own = mq_open(own_name, O_RDONLY | O_CREAT | O_NONBLOCK, 0600, &attr);
    if (own == (mqd_t)-1) {
        report("mq_open", own_name);
        return 1;
    }
    int status = 1;
    mqd_t peer = open_peer(peer_name);
    if (peer != (mqd_t)-1) {
        status = chat(own, peer, own_name, peer_name);
        mq_close(peer);
    } else if (stop) {
        status = 0;
    }
    mq_close(own);
    if (mq_unlink(own_name) == -1)
        report("mq_unlink", own_name);
    return status;
}
