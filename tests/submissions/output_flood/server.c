/* Hostile server: prints forever before ever listening. The output limit stops it. */
#include <stdio.h>

int main(void)
{
    for (unsigned long n = 0;; n++)
        printf("debug: still starting up (%lu)\n", n);
}
