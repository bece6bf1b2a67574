/* named_sems_ring: code shared by writer and reader. */
#include "common.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

volatile sig_atomic_t got_signal;

static void on_signal(int sig) { got_signal = sig; }

void check_args(const char *prog, int argc, char **argv)
{
    const char *why = NULL;
    const char *name = argc > 1 ? argv[1] : NULL;
    if (argc < 2)
        why = "NAME is missing";
    else if (argc > 2)
        why = "too many arguments";
    else if (name[0] != '/')
        why = "NAME must start with /";
    else if (strlen(name) > 100)
        why = "NAME is longer than 100 characters";
    else if (name[1] == '\0')
        why = "NAME needs 1 to 99 characters after the /";
    else if (strchr(name + 1, '/'))
        why = "NAME holds a second /";
    else if (!strcmp(name, "/.") || !strcmp(name, "/.."))
        why = "NAME cannot be /. or /..";
    if (!why)
        return;
    fprintf(stderr, "usage: %s NAME   (NAME: \"/\" then 1 to 99 characters, "
            "no other \"/\", e.g. /hw3-4711)\n%s: %s\n", prog, prog, why);
    exit(1);
}

void setup_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;           /* no SA_RESTART: waits return EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

void sem_names(const char *name, char *free_name, char *full_name, size_t size)
{
    snprintf(free_name, size, "%s-free", name);
    snprintf(full_name, size, "%s-full", name);
}

int sem_wait_slice(sem_t *s)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += SLICE_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    if (sem_clockwait(s, CLOCK_MONOTONIC, &ts) == 0)
        return 0;
    if (errno == ETIMEDOUT)
        return 1;
    if (errno == EINTR)
        return 2;
    return -1;
}

int pid_gone(int32_t pid)
{
    if (pid <= 0)                /* never kill(0) or kill(-1): process groups */
        return 0;
    return kill((pid_t)pid, 0) == -1 && errno == ESRCH;
}

void pause_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);        /* EINTR: the caller looks at got_signal */
}

int fail_status(void)
{
    return got_signal ? 128 + got_signal : 1;
}
