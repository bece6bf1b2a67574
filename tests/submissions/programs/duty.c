/* duty PERCENT PERIOD_MS: burns PERCENT of PERIOD_MS in CPU time (counted on its thread CPU
 * clock: the process clock is coarse under RLIMIT_CPU), then sleeps the rest of the period,
 * again and again: a poller that uses at most a
 * known share of a CPU (less on a busy machine, which makes it wait for the CPU). */
#include <stdlib.h>
#include <time.h>

static double now(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char *argv[])
{
    double share = atof(argv[1]) / 100, period = atof(argv[2]) / 1000;
    double rest = (1 - share) * period;
    struct timespec pause = {(time_t)rest, (long)((rest - (time_t)rest) * 1e9)};
    for (;;) {
        double used = now(CLOCK_THREAD_CPUTIME_ID);
        while (now(CLOCK_THREAD_CPUTIME_ID) - used < share * period)
            ;
        nanosleep(&pause, NULL);
    }
}
