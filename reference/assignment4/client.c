/* client SERVER_PID MESSAGE: sends MESSAGE to the server with SIGUSR1/SIGUSR2 only.
 *
 * Each byte goes as 8 signals, most significant bit first, SIGUSR1 = 0, SIGUSR2 = 1,
 * then a NUL byte ends the message (see server.c). After each signal the client
 * waits for the server's answer: SIGUSR1 for a bit, SIGUSR2 once the whole message
 * has been printed. It exits 0 only after that confirmation.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ANSWER_TIMEOUT_SECONDS 5 /* a server that stays silent this long is gone or stuck */

static int usage(void)
{
    fprintf(stderr, "usage: client SERVER_PID MESSAGE\n");
    return 1;
}

/* Parses a positive decimal PID; returns it, or 0 if s is not one. */
static pid_t parse_pid(const char *s)
{
    if (!isdigit((unsigned char)s[0]))
        return 0; /* strtol would accept " 12", "+12" and "-12" */
    char *end;
    errno = 0;
    long pid = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || pid <= 0 || pid > INT_MAX)
        return 0;
    return (pid_t)pid;
}

/* Waits for the server's answer to one bit (SIGUSR1/SIGUSR2 are blocked, so an answer
 * that comes early stays pending). Returns the signal, or -1 after reporting why. */
static int wait_answer(pid_t server, const sigset_t *answers)
{
    for (;;) {
        struct timespec timeout = {ANSWER_TIMEOUT_SECONDS, 0};
        siginfo_t info;
        int sig = sigtimedwait(answers, &info, &timeout);
        if (sig == -1) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                fprintf(stderr, "client: no answer from server %d within %d s\n", (int)server,
                        ANSWER_TIMEOUT_SECONDS);
            else
                perror("sigtimedwait");
            return -1;
        }
        if (info.si_pid == server)
            return sig;
        /* from some other process: not an answer, keep waiting */
    }
}

int main(int argc, char *argv[])
{
    if (argc != 3)
        return usage();
    pid_t server = parse_pid(argv[1]);
    if (server == 0)
        return usage();

    /* Block the answers before sending anything, so none can be lost. */
    sigset_t answers;
    sigemptyset(&answers);
    sigaddset(&answers, SIGUSR1);
    sigaddset(&answers, SIGUSR2);
    if (sigprocmask(SIG_BLOCK, &answers, NULL) == -1) {
        perror("sigprocmask");
        return 1;
    }
    if (kill(server, 0) == -1) { /* is there a process to talk to? */
        perror("kill");
        return 1;
    }

    const unsigned char *text = (const unsigned char *)argv[2];
    size_t len = strlen(argv[2]);
    for (size_t i = 0; i <= len; i++) { /* i == len: the terminating NUL */
        for (int b = 7; b >= 0; b--) {
            if (kill(server, (text[i] >> b & 1) ? SIGUSR2 : SIGUSR1) == -1) {
                perror("kill");
                return 1;
            }
            int answer = wait_answer(server, &answers);
            if (answer == -1)
                return 1;
            int last = i == len && b == 0;
            if ((answer == SIGUSR2) != last) {
                fprintf(stderr, "client: server answered %s at byte %zu, bit %d: out of step\n",
                        answer == SIGUSR2 ? "end of message" : "a bit", i, 7 - b);
                return 1;
            }
        }
    }
    return 0;
}
