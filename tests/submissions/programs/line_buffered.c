/* Prints "ready" with plain printf (no fflush), then counts stdin bytes until EOF.
 * On a pipe, "ready" would sit in stdio's buffer until exit; on a terminal it is sent at
 * the newline. */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    printf("ready\n");
    char buf[4096];
    long total = 0;
    ssize_t n;
    while ((n = read(STDIN_FILENO, buf, sizeof buf)) > 0)
        total += n;
    printf("got %ld bytes\n", total);
    return n == 0 ? 0 : 1;
}
