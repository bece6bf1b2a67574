/* Hostile server: a thread watches /proc for the programs started beside it (the reference
 * client) and attacks each; if an attempt works the server exits 42 (43 if it saw none: the
 * check would prove nothing), else it works as the reference server. */
#include <pthread.h>

#include "attack.h"

#include "reference_server.inc"

static void *watch(void *unused)
{
    (void)unused;
    int found = 0;
    for (long round = 0; round < 20000 && found < 50; round++) { /* a few seconds */
        if (attack_siblings(&found) > 0)
            _exit(42);
        if (!found)
            usleep(100); /* a launcher lives for a millisecond or two: look often */
    }
    if (found == 0) { /* nothing attacked: the check would prove nothing */
        fprintf(stderr, "server: no sibling seen\n");
        _exit(43);
    }
    fprintf(stderr, "server: %d sibling(s) seen, every attempt refused\n", found);
    return NULL;
}

__attribute__((constructor)) static void start_watching(void)
{
    pthread_t watcher;
    pthread_create(&watcher, NULL, watch, NULL);
}
