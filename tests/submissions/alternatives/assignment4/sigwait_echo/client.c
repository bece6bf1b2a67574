/* client.c - sends one message to the server, one bit per kill().
 *
 * Every byte of MESSAGE and a final NUL, most significant bit first,
 * SIGUSR1 = 1, SIGUSR2 = 0.  After each bit the client sleeps in
 * sigsuspend() until the server echoes that same signal back (the echo of
 * the very last bit means "printed").  SIGUSR1, SIGUSR2 and SIGALRM are
 * blocked except inside sigsuspend(), so an echo can never slip in between
 * kill() and the wait.  A one-second interval timer (SIGALRM) is the
 * watchdog: 5 s without an echo (10 s for the final one), or an echo of
 * the wrong bit, ends the client with a message and exit status 3.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static pid_t server;
static volatile sig_atomic_t echoed;      /* the signal that came back */
static volatile sig_atomic_t ticks;       /* seconds, from the watchdog */

static void on_echo(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    if (si->si_pid == server)
        echoed = sig;                     /* others' signals are ignored */
}

static void on_tick(int sig)
{
    (void)sig;
    ticks++;
}

static pid_t parse_pid(const char *s)
{
    char *end;
    if (*s < '0' || *s > '9')             /* no sign, no space, not empty */
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end != '\0' || v < 1 || v > INT_MAX)
        return -1;
    return (pid_t)v;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (server = parse_pid(argv[1])) < 0) {
        fprintf(stderr, "usage: client SERVER_PID MESSAGE\n");
        return 1;
    }
    const unsigned char *msg = (const unsigned char *)argv[2];
    size_t n = strlen(argv[2]);

    sigset_t block, waitmask;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGUSR2);
    sigaddset(&block, SIGALRM);
    sigprocmask(SIG_BLOCK, &block, &waitmask);
    sigdelset(&waitmask, SIGUSR1);
    sigdelset(&waitmask, SIGUSR2);
    sigdelset(&waitmask, SIGALRM);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_echo;
    sa.sa_mask = block;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_tick;
    sigaction(SIGALRM, &sa, NULL);

    if (kill(server, 0) < 0) {
        fprintf(stderr, "client: cannot signal PID %d: %s\n", (int)server,
                strerror(errno));
        return 2;
    }
    struct itimerval watchdog = { { 1, 0 }, { 1, 0 } };
    setitimer(ITIMER_REAL, &watchdog, NULL);

    for (size_t i = 0; i <= n; i++) {     /* i == n: the closing NUL */
        unsigned char byte = i < n ? msg[i] : 0;
        for (int b = 7; b >= 0; b--) {
            int sig = (byte >> b) & 1 ? SIGUSR1 : SIGUSR2;
            int last = (i == n && b == 0);
            int limit = last ? 10 : 5;
            echoed = 0;
            if (kill(server, sig) < 0) {
                fprintf(stderr, "client: kill(%d): %s\n", (int)server,
                        strerror(errno));
                return 2;
            }
            int start = ticks;
            while (!echoed) {
                if (ticks - start > limit) {
                    fprintf(stderr, "client: no answer from %d for %d s "
                            "(byte %zu of %zu)\n", (int)server, limit, i, n);
                    return 3;
                }
                sigsuspend(&waitmask);
            }
            if (echoed != sig) {
                fprintf(stderr, "client: the server echoed the wrong bit "
                        "(byte %zu)\n", i);
                return 3;
            }
        }
    }
    return 0;
}
