#include "common.h"

static const char *g_name;
static char g_fifo[160];

static void die(int code)
{
    shm_unlink(g_name);
    unlink(g_fifo);
    exit(code);
}

static char buf[CHUNK];

int main(int argc, char **argv)
{
    g_name = check_args(argc, argv, "writer");
    install_handlers();
    fifo_path(g_fifo, sizeof g_fifo, g_name);

    shm_unlink(g_name);
    unlink(g_fifo);
    int fd = shm_open(g_name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) { perror("writer: shm_open"); return 1; }
    if (ftruncate(fd, SEG_SIZE) < 0) die(1);
    struct ctl *c = mmap(NULL, SEG_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (c == MAP_FAILED) die(1);
    close(fd);
    if (mkfifo(g_fifo, 0600) < 0) { perror("writer: mkfifo"); die(1); }
    c->writer_pid = getpid();
    atomic_store(&c->ready, MAGIC);

    int ff;
    while ((ff = open(g_fifo, O_WRONLY)) < 0) {
        if (errno == EINTR) { if (g_stop) die(128 + g_stop); continue; }
        perror("writer: open fifo");
        die(1);
    }
    for (;;) {
        ssize_t r = read(0, buf, sizeof buf);
        if (r < 0) {
            if (errno == EINTR) { if (g_stop) die(128 + g_stop); continue; }
            die(1);
        }
        if (r == 0) break;
        char *p = buf;
        while (r > 0) {
            ssize_t w = write(ff, p, r);
            if (w < 0) {
                if (errno == EINTR) { if (g_stop) die(128 + g_stop); continue; }
                fprintf(stderr, "writer: reader gone\n");
                die(1);
            }
            p += w;
            r -= w;
        }
    }
    atomic_store(&c->done, 1);
    close(ff);
    return 0;
}
