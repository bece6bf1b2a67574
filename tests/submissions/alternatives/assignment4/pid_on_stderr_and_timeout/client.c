/* Client: for each byte a "more" bit (SIGUSR1) and 8 data bits MSB first
 * (SIGUSR1 = 1, SIGUSR2 = 0), then an "end" bit (SIGUSR2).  Waits for the
 * server's SIGUSR1 after every bit with sigtimedwait(); after 5 s without an
 * answer it gives up: message on stderr, exit status 2. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pid_t server;
static sigset_t acks;

static void bit(int one)
{
    static const struct timespec limit = { 5, 0 };
    siginfo_t si;

    if (kill(server, one ? SIGUSR1 : SIGUSR2) == -1) {
        fprintf(stderr, "client: cannot reach server %d: %s\n", (int)server, strerror(errno));
        exit(2);
    }
    for (;;) {
        int s = sigtimedwait(&acks, &si, &limit);
        if (s == SIGUSR1 && si.si_pid == server)
            return;
        if (s == -1 && errno == EAGAIN) {
            fprintf(stderr, "client: no answer from server %d for 5 s, giving up\n", (int)server);
            exit(2);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: client SERVER_PID MESSAGE\n");
        return 1;
    }
    const char *s = argv[1];
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno == ERANGE || v < 1 || v > INT_MAX) {
        fprintf(stderr, "client: bad SERVER_PID '%s'\nusage: client SERVER_PID MESSAGE\n", s);
        return 1;
    }
    server = (pid_t)v;

    sigemptyset(&acks);
    sigaddset(&acks, SIGUSR1);
    sigprocmask(SIG_BLOCK, &acks, NULL);

    for (const unsigned char *p = (const unsigned char *)argv[2]; *p; p++) {
        bit(1);
        for (int b = 7; b >= 0; b--)
            bit((*p >> b) & 1);
    }
    bit(0);
    return 0;
}
