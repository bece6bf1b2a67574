/* Server.  Framing: before every byte the client sends a "more" bit (SIGUSR1 =
 * a byte follows, SIGUSR2 = end of message), then the byte's 8 bits MSB first
 * (SIGUSR1 = 1, SIGUSR2 = 0).  Each bit is acknowledged with SIGUSR1, the end
 * bit only after the message is printed.  An unfinished message is dropped when
 * another sender PID shows up, or after 0.5 s without a bit (ITIMER_REAL). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t g_sig, g_pid, g_alarm;

static void on_usr(int sig, siginfo_t *info, void *uc)
{
    (void)uc;
    g_sig = sig;
    g_pid = info->si_pid;
}

static void on_alarm(int sig)
{
    (void)sig;
    g_alarm = 1;
}

static void arm(long usec)
{
    struct itimerval it = { { 0, 0 }, { usec / 1000000, usec % 1000000 } };
    setitimer(ITIMER_REAL, &it, NULL);
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR1);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sigaddset(&sa.sa_mask, SIGALRM);
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sa.sa_sigaction = on_usr;
    if (sigaction(SIGUSR1, &sa, NULL) < 0 || sigaction(SIGUSR2, &sa, NULL) < 0) {
        perror("sigaction");
        return 1;
    }
    sa.sa_flags = SA_RESTART;
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);

    sigset_t waitmask;
    sigprocmask(SIG_BLOCK, &sa.sa_mask, &waitmask);
    sigdelset(&waitmask, SIGUSR1);
    sigdelset(&waitmask, SIGUSR2);
    sigdelset(&waitmask, SIGALRM);

    fprintf(stderr, "server pid : %d, waiting for messages\n", (int)getpid());

    char *buf = NULL;
    size_t len = 0, cap = 0;
    int pos = -1;               /* -1: expecting the "more" bit, 0..7: data bits */
    unsigned byte = 0;
    int active = 0;             /* a message is in progress */
    pid_t sender = 0;

    for (;;) {
        g_sig = 0;
        g_alarm = 0;
        sigsuspend(&waitmask);
        if (!g_sig) {
            if (g_alarm && active) {    /* 0.5 s of silence: the sender is gone */
                fprintf(stderr, "server: dropped unfinished message from %d\n", (int)sender);
                active = 0;
                len = 0;
                pos = -1;
            }
            continue;
        }
        int one = g_sig == SIGUSR1;
        pid_t pid = g_pid;
        if (!active || pid != sender) {
            if (active)
                fprintf(stderr, "server: dropped unfinished message from %d\n", (int)sender);
            active = 1;
            sender = pid;
            len = 0;
            pos = -1;
        }
        if (pos < 0) {
            if (one) {
                pos = 0;
                byte = 0;
            } else {                    /* end of message */
                fwrite(buf ? buf : "", 1, len, stdout);
                putchar('\n');
                fflush(stdout);
                active = 0;
                len = 0;
            }
        } else {
            byte = (byte << 1) | (unsigned)one;
            if (++pos == 8) {
                if (len == cap) {
                    size_t ncap = cap ? cap * 2 : 256;
                    char *nb = realloc(buf, ncap);
                    if (!nb) {
                        perror("realloc");
                        return 1;
                    }
                    buf = nb;
                    cap = ncap;
                }
                buf[len++] = (char)byte;
                pos = -1;
            }
        }
        kill(pid, SIGUSR1);
        arm(active ? 500000 : 0);
    }
}
