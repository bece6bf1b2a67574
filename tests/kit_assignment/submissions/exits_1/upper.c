#include <ctype.h>
#include <stdio.h>

/* Prints the capitals right, then exits 1: it fails exit_status, which two checks need. */
int main(int argc, char *argv[])
{
    if (argc != 2)
        return 2;
    for (char *p = argv[1]; *p; p++)
        putchar(toupper((unsigned char)*p));
    putchar('\n');
    return 1;
}
