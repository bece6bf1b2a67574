/* Hostile server: prints forever and never listens. What it prints over the output cap is
 * discarded; its check fails because it never serves. */
#include <stdio.h>

int main(void)
{
    for (unsigned long n = 0;; n++)
        printf("debug: still starting up (%lu)\n", n);
}
