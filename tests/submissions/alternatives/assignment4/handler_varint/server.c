/* server.c - receives messages sent bit by bit with SIGUSR1/SIGUSR2.
 *
 * The decoding happens in the SA_SIGINFO handler, which is async-signal-
 * safe: it only updates plain variables and calls kill() to acknowledge a
 * bit.  SIGUSR1/SIGUSR2 are blocked except inside sigsuspend(), so the
 * handler never interrupts the main loop's bookkeeping.  The main loop
 * sleeps in sigsuspend() until the handler reports a complete message (it
 * then writes it and sends the confirmation) or asks for a bigger buffer
 * (malloc is not allowed in a handler; main grows it, then acknowledges).
 *
 * A bit from a PID other than the current sender starts a new frame: this
 * is how a message of a client that died halfway is dropped.  Signals that
 * were not sent by kill() (si_code != SI_USER, e.g. injected by a tracer,
 * si_pid 0) are ignored: answering kill(0, ...) would hit our own group.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

enum { PHASE_LEN, PHASE_DATA };

/* Decoder state: written by the handler, read by main only while the
 * signals are blocked (outside sigsuspend), so no torn reads. */
static volatile sig_atomic_t msg_done, need_grow;
static pid_t sender;
static int phase;
static uint32_t msg_len;
static unsigned shift;
static size_t have;
static unsigned acc, nbits;
static unsigned char *buf;
static size_t cap;

static void start_frame(pid_t p)
{
    sender = p;
    phase = PHASE_LEN;
    msg_len = 0;
    shift = 0;
    have = 0;
    acc = 0;
    nbits = 0;
}

static void on_bit(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    if (si->si_code != SI_USER || si->si_pid <= 0 || msg_done || need_grow)
        return;
    int saved = errno;
    pid_t p = si->si_pid;
    if (p != sender)
        start_frame(p);              /* new client (or the old one died) */
    acc |= (unsigned)(sig == SIG_BIT1) << nbits;
    if (++nbits == 8) {
        unsigned char byte = (unsigned char)acc;
        acc = 0;
        nbits = 0;
        if (phase == PHASE_LEN) {
            if (shift >= 21 && (byte & 0x80)) {  /* a 5th length byte: garbage */
                start_frame(0);                  /* garbage: drop, no answer */
                goto out;
            }
            msg_len |= (uint32_t)(byte & 0x7f) << shift;
            shift += 7;
            if (!(byte & 0x80)) {
                if (msg_len > MAX_MESSAGE) {
                    start_frame(0);
                    goto out;
                }
                phase = PHASE_DATA;
                if (msg_len == 0) {
                    msg_done = 1;    /* main prints, then confirms */
                    goto out;
                }
                if (msg_len + 1 > cap) {
                    need_grow = 1;   /* main grows the buffer, then acks */
                    goto out;
                }
            }
        } else {
            buf[have++] = byte;
            if (have == msg_len) {
                msg_done = 1;
                goto out;
            }
        }
    }
    kill(p, SIG_ACK);
out:
    errno = saved;
}

int main(int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: server (no arguments)\n");
        return 1;
    }
    cap = 128 * 1024;                /* 100,000-byte messages need no grow */
    buf = malloc(cap);
    if (!buf) {
        perror("malloc");
        return 1;
    }

    /* Block first, then install: a bit that comes early stays pending. */
    sigset_t bits, waitmask;
    sigemptyset(&bits);
    sigaddset(&bits, SIGUSR1);
    sigaddset(&bits, SIGUSR2);
    sigprocmask(SIG_BLOCK, &bits, &waitmask);
    sigdelset(&waitmask, SIGUSR1);
    sigdelset(&waitmask, SIGUSR2);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_bit;
    sa.sa_mask = bits;               /* one bit at a time */
    sa.sa_flags = SA_SIGINFO | SA_RESTART;   /* no SA_RESETHAND: lasting */
    if (sigaction(SIGUSR1, &sa, NULL) < 0 || sigaction(SIGUSR2, &sa, NULL) < 0) {
        perror("sigaction");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    char line[32];
    int n = snprintf(line, sizeof line, "%d\n", (int)getpid());
    if (write_all(STDOUT_FILENO, line, (size_t)n) < 0)
        return 1;

    start_frame(0);
    for (;;) {
        while (!msg_done && !need_grow)
            sigsuspend(&waitmask);   /* the handler runs only in here */

        if (need_grow) {
            unsigned char *nb = realloc(buf, (size_t)msg_len + 1);
            pid_t p = sender;
            if (!nb) {
                fprintf(stderr, "server: no memory for %u bytes, "
                        "message dropped\n", (unsigned)msg_len);
                start_frame(0);      /* the client times out */
            } else {
                buf = nb;
                cap = (size_t)msg_len + 1;
                kill(p, SIG_ACK);    /* the bit that completed the length */
            }
            need_grow = 0;
            continue;
        }

        pid_t p = sender;
        buf[msg_len] = '\n';
        if (write_all(STDOUT_FILENO, buf, (size_t)msg_len + 1) < 0)
            perror("server: write");
        kill(p, SIG_CONFIRM);        /* only now may the client exit 0 */
        start_frame(0);
        msg_done = 0;
    }
}
