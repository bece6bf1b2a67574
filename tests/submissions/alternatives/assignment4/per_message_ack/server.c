/* Server: bytes MSB first, SIGUSR1 = 1, SIGUSR2 = 0, message ends with a NUL byte.
 * The handler assembles bits into a byte and acknowledges bits 1..7 itself
 * (SIGUSR2); the 8th bit is acknowledged by the main loop once the byte is
 * stored in a realloc'd buffer.  The NUL byte is confirmed with SIGUSR1 after
 * the message is printed.  The main loop sleeps in sigsuspend(). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t h_pid, h_byte, h_nbits;    /* handler's state */
static volatile sig_atomic_t ready, ready_byte, ready_pid; /* handler -> main */

static void on_bit(int sig, siginfo_t *info, void *uc)
{
    int saved = errno;
    (void)uc;
    if (info->si_pid != h_pid) {        /* a new client: forget partial byte */
        h_pid = info->si_pid;
        h_byte = 0;
        h_nbits = 0;
    }
    h_byte = (h_byte << 1) | (sig == SIGUSR1);
    if (++h_nbits == 8) {
        ready_byte = h_byte;
        ready_pid = h_pid;
        ready = 1;                      /* main loop stores it and answers */
        h_byte = 0;
        h_nbits = 0;
    } else {
        kill(h_pid, SIGUSR2);
    }
    errno = saved;
}

static void put(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_bit;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR1);    /* the handler never interrupts itself */
    sigaddset(&sa.sa_mask, SIGUSR2);
    if (sigaction(SIGUSR1, &sa, NULL) || sigaction(SIGUSR2, &sa, NULL)) {
        perror("sigaction");
        return 1;
    }
    sigset_t waitmask;
    sigprocmask(SIG_BLOCK, &sa.sa_mask, &waitmask);
    sigdelset(&waitmask, SIGUSR1);
    sigdelset(&waitmask, SIGUSR2);

    char line[32];
    int k = snprintf(line, sizeof line, "PID: %d\n", (int)getpid());
    put(line, (size_t)k);

    char *buf = NULL;
    size_t len = 0, cap = 0;
    pid_t owner = 0;

    for (;;) {
        while (!ready)
            sigsuspend(&waitmask);
        ready = 0;
        unsigned char c = (unsigned char)ready_byte;
        pid_t pid = ready_pid;
        if (pid != owner) {             /* bytes of a dead client are dropped */
            owner = pid;
            len = 0;
        }
        if (len + 1 >= cap) {           /* always keep room for '\n' */
            size_t ncap = cap ? 2 * cap : 128;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                perror("realloc");
                return 1;
            }
            buf = nb;
            cap = ncap;
        }
        if (c != 0) {
            buf[len++] = (char)c;
            kill(pid, SIGUSR2);
        } else {
            buf[len++] = '\n';
            put(buf, len);
            len = 0;
            kill(pid, SIGUSR1);         /* whole message confirmed */
        }
    }
}
