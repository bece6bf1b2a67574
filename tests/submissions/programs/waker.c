/* waker RATE: wakes up RATE times a second and does nothing (a poller that sleeps). */
#include <stdlib.h>
#include <time.h>

int main(int argc, char *argv[])
{
    long ns = (long)(1e9 / atof(argv[1]));
    struct timespec pause = {ns / 1000000000, ns % 1000000000};
    for (;;)
        nanosleep(&pause, NULL);
}
