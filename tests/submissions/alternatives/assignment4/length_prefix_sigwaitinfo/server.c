/* Server: a message is a 32-bit length (LSB first) followed by that many bytes
 * (MSB first); SIGUSR2 = 1, SIGUSR1 = 0.  Lasting handlers are installed with
 * sigaction(), but SIGUSR1/2 stay blocked and the main loop takes them with
 * sigwaitinfo(), so all decoding happens outside any handler.  Every bit is
 * acknowledged with SIGUSR2 once stored (the last one after printing). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_LEN (64u << 20)     /* refuse absurd lengths: 64 MiB */

static void on_usr(int sig, siginfo_t *info, void *uc)
{
    (void)sig; (void)info; (void)uc;    /* never runs: the signals stay blocked */
}

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

int main(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
        perror("sigprocmask");
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sa.sa_mask = set;
    if (sigaction(SIGUSR1, &sa, NULL) < 0 || sigaction(SIGUSR2, &sa, NULL) < 0) {
        perror("sigaction");
        return 1;
    }

    printf("%ld\n", (long)getpid());
    fflush(stdout);

    pid_t sender = 0;
    uint32_t length = 0;        /* header being received / message length */
    int hdr_bits = 0;           /* bits of the header received so far (32 = done) */
    char *msg = NULL;
    uint32_t got = 0;           /* complete bytes of the body */
    unsigned byte = 0;
    int nbits = 0;
    int refused = 0;            /* header too large: swallow bits, don't store */

    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&set, &si);
        if (sig < 0)
            continue;           /* EINTR, e.g. after SIGSTOP/SIGCONT */
        unsigned bit = sig == SIGUSR2;

        if (si.si_pid != sender) {      /* another client: start over */
            sender = si.si_pid;
            hdr_bits = 0;
            length = 0;
        }
        int done = 0;
        if (hdr_bits < 32) {
            if (hdr_bits == 0) {
                length = 0;
                free(msg);
                msg = NULL;
                got = 0; byte = 0; nbits = 0; refused = 0;
            }
            length |= (uint32_t)bit << hdr_bits;
            if (++hdr_bits == 32) {
                if (length == 0) {
                    done = 1;
                } else if (length > MAX_LEN || !(msg = malloc((size_t)length + 1))) {
                    refused = 1;
                }
            }
        } else {
            byte = (byte << 1) | bit;
            if (++nbits == 8) {
                if (!refused)
                    msg[got] = (char)byte;
                got++;
                byte = 0;
                nbits = 0;
                done = got == length;
            }
        }
        if (done) {
            if (!refused) {
                if (msg) {
                    msg[length] = '\n';
                    write_all(msg, (size_t)length + 1);
                } else {
                    write_all("\n", 1);
                }
            }
            hdr_bits = 0;       /* ready for the next message */
        }
        kill(si.si_pid, SIGUSR2);
    }
}
