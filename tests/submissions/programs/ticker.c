/* Two processes (parent and child) that each print "tick WHO N" every 10 ms, N = 1, 2, ... */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
    const char *who = fork() == 0 ? "child" : "parent";
    const struct timespec pause = {.tv_nsec = 10 * 1000 * 1000};
    for (unsigned long n = 1;; n++) {
        printf("tick %s %lu\n", who, n);
        nanosleep(&pause, NULL);
    }
}
