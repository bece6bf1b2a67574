/* Client: sends MESSAGE and a NUL byte, LSB first, SIGUSR1 = 1, SIGUSR2 = 0.
 * Waits (sigsuspend, no timeout) for the server's SIGUSR1 after every bit. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_server;
static volatile sig_atomic_t g_acked;

static void on_ack(int sig, siginfo_t *info, void *uc)
{
    (void)sig;
    (void)uc;
    if (info->si_pid == g_server)
        g_acked = 1;
}

static pid_t parse_pid(const char *s)
{
    if (*s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v <= 0 || v > INT_MAX)
        return -1;
    return (pid_t)v;
}

int main(int argc, char *argv[])
{
    pid_t server = argc == 3 ? parse_pid(argv[1]) : -1;
    if (server <= 0) {
        fprintf(stderr, "usage: %s SERVER_PID MESSAGE\n", argv[0]);
        return 1;
    }
    g_server = server;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_ack;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);

    sigset_t block, waitmask;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &waitmask);
    sigdelset(&waitmask, SIGUSR1);

    const unsigned char *msg = (const unsigned char *)argv[2];
    size_t n = strlen(argv[2]);
    for (size_t i = 0; i <= n; i++) {           /* i == n: the NUL terminator */
        unsigned c = i < n ? msg[i] : 0;
        for (int b = 0; b < 8; b++) {
            g_acked = 0;
            if (kill(server, (c >> b) & 1 ? SIGUSR1 : SIGUSR2) < 0) {
                fprintf(stderr, "client: cannot signal %d: %s\n", (int)server, strerror(errno));
                return 2;
            }
            while (!g_acked)
                sigsuspend(&waitmask);
        }
    }
    return 0;
}
