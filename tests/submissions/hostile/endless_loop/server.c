/* Hostile server: spins forever before ever listening, on eight threads (so that it spins as
 * hard on a busy machine as on an idle one). The CPU time limit stops it. */
#include <pthread.h>

static void *spin(void *unused)
{
    volatile unsigned long spins = 0;
    (void)unused;
    for (;;)
        spins++;
    return NULL;
}

int main(void)
{
    pthread_t threads[7];
    for (int i = 0; i < 7; i++)
        pthread_create(&threads[i], NULL, spin, NULL);
    spin(NULL);
}
