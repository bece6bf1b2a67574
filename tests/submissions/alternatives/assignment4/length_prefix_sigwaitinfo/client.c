/* Client: sends the length of MESSAGE as 32 bits (LSB first), then the bytes
 * (MSB first); SIGUSR2 = 1, SIGUSR1 = 0.  After each bit it waits with
 * sigtimedwait() for the server's SIGUSR2, giving up after 3 seconds. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pid_t server;
static sigset_t ackset;

static int parse_pid(const char *s, pid_t *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v <= 0 || v > INT_MAX)
        return -1;
    *out = (pid_t)v;
    return 0;
}

static void send_bit(unsigned bit)
{
    if (kill(server, bit ? SIGUSR2 : SIGUSR1) < 0) {
        fprintf(stderr, "client: kill(%d): %s\n", (int)server, strerror(errno));
        exit(2);
    }
    const struct timespec timeout = { 3, 0 };
    for (;;) {
        siginfo_t si;
        int sig = sigtimedwait(&ackset, &si, &timeout);
        if (sig == SIGUSR2 && si.si_pid == server)
            return;
        if (sig < 0 && errno == EAGAIN) {
            fprintf(stderr, "client: no answer from server %d, giving up\n", (int)server);
            exit(3);
        }
        /* EINTR or a stray signal: keep waiting */
    }
}

int main(int argc, char *argv[])
{
    if (argc != 3 || parse_pid(argv[1], &server) < 0) {
        fprintf(stderr, "usage: client SERVER_PID MESSAGE\n");
        return 1;
    }
    sigemptyset(&ackset);
    sigaddset(&ackset, SIGUSR1);
    sigaddset(&ackset, SIGUSR2);
    sigprocmask(SIG_BLOCK, &ackset, NULL);

    size_t n = strlen(argv[2]);
    if (n > UINT32_MAX) {
        fprintf(stderr, "client: message too long\n");
        return 1;
    }
    uint32_t len = (uint32_t)n;
    for (int i = 0; i < 32; i++)
        send_bit((len >> i) & 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)argv[2][i];
        for (int b = 7; b >= 0; b--)
            send_bit((c >> b) & 1);
    }
    return 0;
}
