/* One line on each output stream, then exit code 3. */
#include <stdio.h>

int main(void)
{
    printf("to stdout\n");
    fprintf(stderr, "to stderr\n");
    return 3;
}
