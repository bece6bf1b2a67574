/* work_then_read FILE: for each stdin line, burns some CPU, then writes FILE, then reads
 * the next line. Between a line and FILE appearing the program is busy (running). */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char *argv[])
{
    if (argc != 2)
        return 2;
    char c;
    ssize_t n;
    while ((n = read(STDIN_FILENO, &c, 1)) == 1) {
        if (c != '\n')
            continue;
        for (volatile unsigned long i = 0; i < 300000000UL; i++)
            ;
        int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd == -1) {
            perror("open");
            return 1;
        }
        close(fd);
    }
    return n == 0 ? 0 : 1;
}
