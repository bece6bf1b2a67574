/* Client: sends MESSAGE plus a NUL byte, MSB first, SIGUSR1 = 1, SIGUSR2 = 0.
 * Each bit is answered with SIGUSR2; the last bit of the NUL byte with SIGUSR1,
 * meaning "message printed".  Waits in sigsuspend(); alarm() gives up after 4 s
 * of silence. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t server_pid, answer, timed_out;

static void on_answer(int sig, siginfo_t *info, void *uc)
{
    (void)uc;
    if (info->si_pid == server_pid)
        answer = sig;
}

static void on_alarm(int sig)
{
    (void)sig;
    timed_out = 1;
}

int main(int argc, char *argv[])
{
    char *end = NULL;
    long v = 0;
    if (argc == 3 && argv[1][0] >= '0' && argv[1][0] <= '9') {
        errno = 0;
        v = strtol(argv[1], &end, 10);
        if (errno || *end)
            v = 0;
    }
    if (v <= 0 || v > INT_MAX) {
        fputs("usage: client SERVER_PID MESSAGE\n", stderr);
        return 1;
    }
    pid_t pid = (pid_t)v;
    server_pid = pid;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_sigaction = on_answer;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    sa.sa_handler = on_alarm;
    sa.sa_flags = 0;
    sigaction(SIGALRM, &sa, NULL);

    sigset_t block, waitmask;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGUSR2);
    sigaddset(&block, SIGALRM);
    sigprocmask(SIG_BLOCK, &block, &waitmask);

    const char *msg = argv[2];
    size_t n = strlen(msg);
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)msg[i];        /* msg[n] is the NUL */
        for (int b = 7; b >= 0; b--) {
            int expect = (i == n && b == 0) ? SIGUSR1 : SIGUSR2;
            answer = 0;
            alarm(4);
            if (kill(pid, (c >> b) & 1 ? SIGUSR1 : SIGUSR2) < 0) {
                perror("client: kill");
                return 2;
            }
            while (answer != expect && !timed_out)
                sigsuspend(&waitmask);
            if (timed_out) {
                fprintf(stderr, "client: server %d stopped answering\n", (int)pid);
                return 2;
            }
        }
    }
    alarm(0);
    return 0;
}
