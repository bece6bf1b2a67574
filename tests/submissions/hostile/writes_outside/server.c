/* Hostile server: the reference server, plus writes outside its folder before main():
 * a file in /tmp (allowed: the sandbox sweeps it and says so) and one in /etc (denied to
 * the sandbox user). */
#include <fcntl.h>
#include <unistd.h>

#include "reference_server.inc"

static void leave(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0666);
    if (fd == -1) {
        perror(path);
        return;
    }
    if (write(fd, "was here\n", 9) == -1)
        perror("write");
    close(fd);
}

__attribute__((constructor)) static void write_outside(void)
{
    leave("/tmp/evil-xyz");
    leave("/etc/evil-xyz");
}
