/* robust_mutex_cond: code shared by writer and reader (not a program). */
#include "shmring.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

volatile sig_atomic_t got_signal;

static void on_signal(int sig) { got_signal = sig; }

void check_args(const char *prog, int argc, char **argv)
{
    const char *why = NULL, *name = argc == 2 ? argv[1] : "";
    size_t len = strlen(name);
    if (argc != 2)
        why = argc < 2 ? "NAME is missing" : "too many arguments";
    else if (name[0] != '/')
        why = "NAME must start with /";
    else if (len < 2 || len > 100)
        why = "NAME must be / and 1 to 99 more characters";
    else if (strchr(name + 1, '/'))
        why = "NAME holds a second /";
    else if (!strcmp(name, "/.") || !strcmp(name, "/.."))
        why = "NAME cannot be /. or /..";
    if (!why)
        return;
    fprintf(stderr, "usage: %s NAME   (NAME: \"/\" then 1 to 99 characters, "
            "no other \"/\")\n%s: %s\n", prog, prog, why);
    exit(1);
}

void setup_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;            /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

int init_sync(struct ctl *c)
{
    pthread_mutexattr_t ma;
    pthread_condattr_t ca;
    int e = 0;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
    pthread_condattr_init(&ca);
    pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    e = e ? e : pthread_mutex_init(&c->m, &ma);
    e = e ? e : pthread_mutex_init(&c->wlive, &ma);
    e = e ? e : pthread_mutex_init(&c->rlive, &ma);
    e = e ? e : pthread_cond_init(&c->not_empty, &ca);
    e = e ? e : pthread_cond_init(&c->not_full, &ca);
    pthread_mutexattr_destroy(&ma);
    pthread_condattr_destroy(&ca);
    return e;
}

int holder_gone(pthread_mutex_t *live)
{
    int e = pthread_mutex_trylock(live);
    if (e == EBUSY)
        return 0;
    /* EOWNERDEAD: its holder died and we hold it now.  Make it consistent
     * and unlock it at once, so that it is on no robust list of ours and the
     * next try simply gets it (0).  Unlocking it inconsistent instead would
     * make it ENOTRECOVERABLE, and glibc 2.36's trylock then leaves such a
     * mutex locked by us, so that a third try would say EBUSY: "alive". */
    if (e == EOWNERDEAD)
        pthread_mutex_consistent(live);
    /* 0 (nobody holds it: its holder has gone) or EOWNERDEAD */
    if (e == 0 || e == EOWNERDEAD)
        pthread_mutex_unlock(live);
    return 1;
}

static struct timespec slice_end(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += SLICE_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int lock_ring(struct ctl *c)
{
    for (;;) {
        /* in slices: a partner stopped while it holds m must not keep us
         * from seeing SIGINT or SIGTERM */
        struct timespec ts = slice_end();
        int e = pthread_mutex_clocklock(&c->m, CLOCK_MONOTONIC, &ts);
        if (e == 0)
            return 0;
        if (e == EOWNERDEAD) {
            pthread_mutex_consistent(&c->m);
            return -1;
        }
        if (e != ETIMEDOUT)
            return -1;
        if (got_signal)
            return -2;
    }
}

int wait_slice(pthread_cond_t *cv, struct ctl *c)
{
    struct timespec ts = slice_end();
    int e = pthread_cond_timedwait(cv, &c->m, &ts);
    if (e == EOWNERDEAD)
        pthread_mutex_consistent(&c->m);
    return e;
}

void pause_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

int fail_status(void)
{
    return got_signal ? 128 + got_signal : 1;
}
