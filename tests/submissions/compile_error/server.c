/* A server that does not compile: a missing semicolon and an undeclared name. */
#include <stdio.h>

int main(void)
{
    int total = 0
    printf("%d\n", totl);
    return 0;
}
