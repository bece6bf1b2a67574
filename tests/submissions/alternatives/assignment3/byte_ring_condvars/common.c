#include "common.h"

volatile sig_atomic_t g_stop = 0;

static void on_sig(int s) { g_stop = s; }

const char *check_args(int argc, char **argv, const char *prog)
{
    const char *why = NULL;
    if (argc < 2) why = "NAME is missing";
    else if (argc > 2) why = "too many arguments";
    else {
        const char *n = argv[1];
        size_t l = strlen(n);
        if (l == 0 || n[0] != '/') why = "NAME must start with /";
        else if (l < 2) why = "NAME is just /";
        else if (l > 100) why = "NAME is longer than 100 characters";
        else if (strchr(n + 1, '/')) why = "NAME holds a second /";
        else if (!strcmp(n, "/.") || !strcmp(n, "/..")) why = "NAME is . or ..";
    }
    if (why) {
        fprintf(stderr, "usage: %s NAME   (NAME: \"/\" then 1 to 99 characters, no other \"/\")\n%s: %s\n",
                prog, prog, why);
        exit(1);
    }
    return argv[1];
}

void install_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sig;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

struct timespec deadline(long ns)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_nsec += ns;
    while (t.tv_nsec >= 1000000000L) { t.tv_nsec -= 1000000000L; t.tv_sec++; }
    return t;
}

int ctl_lock(struct ctl *c)
{
    int r = pthread_mutex_trylock(&c->mu);
    while (r == EBUSY || r == ETIMEDOUT) {
        if (g_stop) return -1;
        struct timespec d = deadline(SLICE_NS);
        r = pthread_mutex_clocklock(&c->mu, CLOCK_MONOTONIC, &d);
    }
    if (r == EOWNERDEAD) {
        pthread_mutex_consistent(&c->mu);
        return 1;
    }
    if (r != 0) { errno = r; perror("pthread_mutex_lock"); return -1; }
    return 0;
}

void ctl_unlock(struct ctl *c) { pthread_mutex_unlock(&c->mu); }
