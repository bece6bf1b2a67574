#include <ctype.h>
#include <stdio.h>

int main(int argc, char *argv[])
{
    if (argc != 2)
        return 2;
    for (int i = 0; i < 100000; i++)
        fputs("chatter ", stdout);
    for (char *p = argv[1]; *p; p++)
        putchar(toupper((unsigned char)*p));
    putchar('\n');
    return 0;
}
