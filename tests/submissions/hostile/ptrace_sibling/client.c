/* Hostile client: attacks the programs running beside it (the reference server), then works
 * as the reference client if every attempt was refused, and fails its check otherwise (also
 * when it found no sibling to attack: then the check would prove nothing). */
#include "attack.h"

#include "reference_client.inc"

__attribute__((constructor)) static void attack_at_start(void)
{
    int found = 0;
    if (attack_siblings(&found) > 0)
        _exit(42);
    if (found == 0) { /* nothing attacked: the check would prove nothing */
        fprintf(stderr, "client: no sibling found\n");
        _exit(43);
    }
    fprintf(stderr, "client: %d sibling(s) found, every attempt refused\n", found);
}
