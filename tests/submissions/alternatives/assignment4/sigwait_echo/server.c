/* server.c - receives messages sent bit by bit with SIGUSR1/SIGUSR2.
 *
 * Encoding (shared with client.c): every byte most significant bit first,
 * SIGUSR1 = 1, SIGUSR2 = 0; a message ends with a NUL byte (a message never
 * contains one).  The server *echoes* every bit: it answers with the same
 * signal it received, once the bit is stored.  The echo of the last bit of
 * the NUL is sent only after the message has been written: that is the
 * confirmation the client waits for before it exits 0.
 *
 * SIGUSR1/SIGUSR2 stay blocked for the server's whole life and the main
 * loop takes them one by one with sigwaitinfo(), so all the work is plain
 * sequential code (realloc and write are fine here).  The handlers that the
 * handout requires are installed with sigaction() before anything is
 * printed and are never removed; since the signals are blocked before the
 * handlers are installed and never unblocked, the handlers never run: a
 * signal that comes early simply waits, pending, for sigwaitinfo().
 *
 * A bit from a new PID starts a new message: what a client that died
 * halfway had sent is dropped.  Signals not sent by kill() (si_code other
 * than SI_USER, such as ones injected by a tracer with si_pid 0) are
 * ignored, since echoing to PID 0 would signal our own process group.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void guard(int sig, siginfo_t *si, void *uc)
{
    (void)sig; (void)si; (void)uc;   /* never runs: the signals stay blocked */
}

static int write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, p, n);
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

int main(int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: server\n");
        return 1;
    }
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
    sa.sa_sigaction = guard;
    sa.sa_mask = set;
    sa.sa_flags = SA_SIGINFO;     /* lasting: no SA_RESETHAND */
    if (sigaction(SIGUSR1, &sa, NULL) < 0 || sigaction(SIGUSR2, &sa, NULL) < 0) {
        perror("sigaction");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    char head[48];
    int hn = snprintf(head, sizeof head, "PID: %d\n", (int)getpid());
    if (write_all(head, (size_t)hn) < 0)
        return 1;

    size_t cap = 4096, len = 0;
    char *msg = malloc(cap);
    if (!msg) {
        perror("malloc");
        return 1;
    }
    pid_t sender = 0;
    unsigned acc = 0, nbits = 0;

    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&set, &si);
        if (sig < 0)
            continue;             /* EINTR (e.g. after SIGCONT) */
        if (si.si_code != SI_USER || si.si_pid <= 0)
            continue;
        if (si.si_pid != sender) {   /* a new client: start over */
            sender = si.si_pid;
            len = 0;
            acc = 0;
            nbits = 0;
        }
        acc = (acc << 1) | (sig == SIGUSR1);
        if (++nbits == 8) {
            unsigned char byte = (unsigned char)acc;
            acc = 0;
            nbits = 0;
            if (byte == 0) {      /* end of message */
                msg[len] = '\n';
                if (write_all(msg, len + 1) < 0)
                    perror("server: write");
                kill(sender, sig);   /* the confirmation: after printing */
                sender = 0;
                len = 0;
                continue;
            }
            if (len + 2 > cap) {  /* room for this byte and the '\n' */
                char *bigger = realloc(msg, cap * 2);
                if (!bigger) {    /* drop it; the client times out */
                    fprintf(stderr, "server: out of memory, message dropped\n");
                    sender = 0;
                    len = 0;
                    continue;
                }
                msg = bigger;
                cap *= 2;
            }
            msg[len++] = (char)byte;
        }
        kill(sender, sig);        /* echo: bit stored, send the next one */
    }
}
