/* Server: receives messages bit by bit, LSB first, SIGUSR1 = 1, SIGUSR2 = 0,
 * terminated by a NUL byte.  Every bit is acknowledged with SIGUSR1 once stored.
 * The handler only records the signal and sender; the main loop (sleeping in
 * sigsuspend with SIGUSR1/2 blocked otherwise) does the decoding. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_sig;
static volatile sig_atomic_t g_pid;

static void on_usr(int sig, siginfo_t *info, void *uc)
{
    (void)uc;
    g_sig = sig;
    g_pid = info->si_pid;
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

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR1);
    sigaddset(&sa.sa_mask, SIGUSR2);
    if (sigaction(SIGUSR1, &sa, NULL) < 0 || sigaction(SIGUSR2, &sa, NULL) < 0) {
        perror("sigaction");
        return 1;
    }

    sigset_t block, waitmask;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGUSR2);
    sigprocmask(SIG_BLOCK, &block, &waitmask);
    sigdelset(&waitmask, SIGUSR1);
    sigdelset(&waitmask, SIGUSR2);

    printf("\033[1;36mServer PID: \033[1;33m%d\033[0m\n", (int)getpid());
    fflush(stdout);

    char *buf = NULL;
    size_t len = 0, cap = 0;
    unsigned byte = 0;
    int nbits = 0;
    pid_t sender = 0;

    for (;;) {
        g_sig = 0;
        sigsuspend(&waitmask);          /* returns after a handler ran */
        if (!g_sig)
            continue;
        int sig = g_sig;
        pid_t pid = g_pid;

        if (pid != sender) {            /* new client: drop any leftover */
            sender = pid;
            len = 0;
            byte = 0;
            nbits = 0;
        }
        if (sig == SIGUSR1)
            byte |= 1u << nbits;
        if (++nbits == 8) {
            if (byte == 0) {
                if (len == cap) {       /* make room for the newline */
                    char *nb = realloc(buf, cap ? cap * 2 : 64);
                    if (!nb) { perror("realloc"); return 1; }
                    buf = nb;
                    cap = cap ? cap * 2 : 64;
                }
                buf[len++] = '\n';
                write_all(STDOUT_FILENO, buf, len);
                len = 0;
            } else {
                if (len + 1 >= cap) {
                    size_t ncap = cap ? cap * 2 : 64;
                    char *nb = realloc(buf, ncap);
                    if (!nb) { perror("realloc"); return 1; }
                    buf = nb;
                    cap = ncap;
                }
                buf[len++] = (char)byte;
            }
            byte = 0;
            nbits = 0;
        }
        kill(pid, SIGUSR1);             /* acknowledge (after printing, for the last bit) */
    }
}
