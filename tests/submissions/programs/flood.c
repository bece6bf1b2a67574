/* flood out|err: writes to stdout or stderr forever. */
#include <stdio.h>
#include <string.h>

int main(int argc, char *argv[])
{
    FILE *out = argc > 1 && strcmp(argv[1], "err") == 0 ? stderr : stdout;
    for (;;)
        fputs("all work and no play makes jack a dull boy\n", out);
}
