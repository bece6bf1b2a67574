/* Hostile server: prints forever on stdout and stderr, never listens. What it prints over
 * the output cap is read and discarded; the CPU time limit ends it. */
#include <stdio.h>

int main(void)
{
    for (unsigned long n = 0;; n++) {
        printf("debug: still starting up (%lu)\n", n);
        fprintf(stderr, "warning: flooding stderr too (%lu)\n", n);
    }
}
