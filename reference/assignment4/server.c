/* server: receives text messages sent one bit at a time with kill(), and prints them.
 *
 * Protocol (shared with client.c): each byte travels as 8 signals, most significant
 * bit first, SIGUSR1 = 0 and SIGUSR2 = 1; a message ends with a NUL byte. After each
 * bit the server answers the sender (si_pid) with SIGUSR1, except after the last bit
 * of the NUL: then the message has been printed and the answer is SIGUSR2. A client
 * sends its next bit only after the answer, so no signal is ever pending twice.
 *
 * The handler only records the signal and its sender. SIGUSR1/SIGUSR2 stay blocked
 * except inside sigsuspend(), so exactly one signal is taken per wait and the real
 * work (realloc, write, kill) runs outside the handler.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t got_signal; /* 0 while waiting, then SIGUSR1 or SIGUSR2 */
static volatile sig_atomic_t got_pid;    /* who sent it */

static void on_bit(int sig, siginfo_t *info, void *ucontext)
{
    (void)ucontext;
    got_signal = sig;
    got_pid = info->si_pid;
}

/* The message being received, and who is sending it (0: nobody yet). */
struct message {
    pid_t sender;
    unsigned char byte; /* bits of the current byte so far */
    int nbits;
    char *text;
    size_t len, cap;
};

static void restart(struct message *m, pid_t sender)
{
    m->sender = sender;
    m->byte = 0;
    m->nbits = 0;
    m->len = 0;
}

/* Appends c, growing the buffer as needed. Returns 0, or -1 if out of memory. */
static int append(struct message *m, char c)
{
    if (m->len == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 256;
        char *text = realloc(m->text, cap);
        if (text == NULL)
            return -1;
        m->text = text;
        m->cap = cap;
    }
    m->text[m->len++] = c;
    return 0;
}

/* Writes all n bytes, resuming after partial writes. Returns 0, or -1 on error. */
static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w == -1) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int main(int argc, char *argv[])
{
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: server\n");
        return 1;
    }

    /* Block the two signals first: none may arrive before the handlers are ready. */
    sigset_t bits, waitmask;
    sigemptyset(&bits);
    sigaddset(&bits, SIGUSR1);
    sigaddset(&bits, SIGUSR2);
    if (sigprocmask(SIG_BLOCK, &bits, &waitmask) == -1) {
        perror("sigprocmask");
        return 1;
    }
    sigdelset(&waitmask, SIGUSR1);
    sigdelset(&waitmask, SIGUSR2);

    struct sigaction sa = {0};
    sa.sa_sigaction = on_bit;
    sa.sa_flags = SA_SIGINFO;
    sa.sa_mask = bits; /* one handler at a time */
    if (sigaction(SIGUSR1, &sa, NULL) == -1 || sigaction(SIGUSR2, &sa, NULL) == -1) {
        perror("sigaction");
        return 1;
    }

    char line[32];
    int n = snprintf(line, sizeof line, "%d\n", (int)getpid());
    if (write_all(STDOUT_FILENO, line, (size_t)n) == -1) {
        perror("write");
        return 1;
    }

    struct message m = {0};
    for (;;) {
        got_signal = 0;
        while (got_signal == 0)
            sigsuspend(&waitmask); /* always returns -1 with EINTR */
        pid_t from = got_pid;
        if (from != m.sender)
            restart(&m, from); /* a new client: drop whatever the last one left unfinished */

        m.byte = (unsigned char)(m.byte << 1 | (got_signal == SIGUSR2));
        int answer = SIGUSR1;
        if (++m.nbits == 8) {
            char c = (char)m.byte;
            if (append(&m, c == '\0' ? '\n' : c) == -1) {
                perror("realloc");
                return 1;
            }
            if (c == '\0') {
                if (write_all(STDOUT_FILENO, m.text, m.len) == -1) {
                    perror("write");
                    return 1;
                }
                answer = SIGUSR2;
            }
            m.byte = 0;
            m.nbits = 0;
        }
        if (from > 0 && kill(from, answer) == -1) {
            if (errno != ESRCH)
                perror("kill");
            restart(&m, 0); /* the sender is gone */
        } else if (answer == SIGUSR2) {
            restart(&m, 0);
        }
    }
}
