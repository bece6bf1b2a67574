/* client.c - sends one message to the server, one bit per kill().
 *
 * SIGUSR1/SIGUSR2 are blocked for the whole run (no handlers) and every
 * answer is taken with sigtimedwait(); only answers whose si_pid is the
 * server's count.  After each bit the client waits for SIGUSR1 (bit
 * stored), at most 5 s; after the last bit it waits for SIGUSR2 (message
 * printed), at most 10 s.  Any timeout or wrong answer: a message on
 * stderr and exit status 3, never 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define BIT_TIMEOUT_S      5
#define CONFIRM_TIMEOUT_S 10

static pid_t server;
static sigset_t answers;

static void wait_answer(int expected, int seconds)
{
    struct timespec deadline, now;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += seconds;
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long left = (deadline.tv_sec - now.tv_sec) * 1000000000LL +
                         (deadline.tv_nsec - now.tv_nsec);
        if (left <= 0)
            break;
        struct timespec ts = { left / 1000000000LL, left % 1000000000LL };
        siginfo_t si;
        int sig = sigtimedwait(&answers, &si, &ts);
        if (sig < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;            /* EAGAIN: the loop sees the deadline */
            perror("client: sigtimedwait");
            exit(3);
        }
        if (si.si_pid != server)
            continue;                /* not from our server: ignore */
        if (sig != expected) {
            fprintf(stderr, "client: unexpected answer %s from %d\n",
                    sig == SIGUSR1 ? "SIGUSR1" : "SIGUSR2", (int)server);
            exit(3);
        }
        return;
    }
    fprintf(stderr, "client: server %d did not answer within %d s\n",
            (int)server, seconds);
    exit(3);
}

int main(int argc, char **argv)
{
    if (argc != 3 || (server = parse_pid(argv[1])) <= 0) {
        fprintf(stderr, "usage: client SERVER_PID MESSAGE\n");
        return 1;
    }
    const unsigned char *msg = (const unsigned char *)argv[2];
    size_t n = strlen(argv[2]);
    if (n > MAX_MESSAGE) {
        fprintf(stderr, "client: message longer than %u bytes\n", MAX_MESSAGE);
        return 1;
    }

    /* Blocked before the first kill(): an answer can never be lost or
     * kill us, and sigtimedwait() collects it whenever it comes. */
    sigemptyset(&answers);
    sigaddset(&answers, SIGUSR1);
    sigaddset(&answers, SIGUSR2);
    sigprocmask(SIG_BLOCK, &answers, NULL);

    if (kill(server, 0) < 0) {
        fprintf(stderr, "client: no server with PID %d: %s\n", (int)server,
                strerror(errno));
        return 2;
    }

    unsigned char head[5];
    size_t hn = varint_encode((uint32_t)n, head);
    size_t total = hn + n;
    for (size_t i = 0; i < total; i++) {
        unsigned char byte = i < hn ? head[i] : msg[i - hn];
        for (int b = 0; b < 8; b++) {
            int sig = (byte >> b) & 1 ? SIG_BIT1 : SIG_BIT0;
            if (kill(server, sig) < 0) {
                fprintf(stderr, "client: kill(%d): %s\n", (int)server,
                        strerror(errno));
                return 2;
            }
            int last = (i == total - 1 && b == 7);
            wait_answer(last ? SIG_CONFIRM : SIG_ACK,
                        last ? CONFIRM_TIMEOUT_S : BIT_TIMEOUT_S);
        }
    }
    return 0;
}
