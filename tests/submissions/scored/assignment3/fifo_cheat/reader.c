#include "common.h"

static const char *g_name;
static char g_fifo[160];
static int g_attached;

static void die(int code)
{
    if (g_attached) { shm_unlink(g_name); unlink(g_fifo); }
    exit(code);
}

static char buf[CHUNK];

int main(int argc, char **argv)
{
    g_name = check_args(argc, argv, "reader");
    install_handlers();
    fifo_path(g_fifo, sizeof g_fifo, g_name);

    struct ctl *c = NULL;
    for (;;) {
        if (g_stop) die(128 + g_stop);
        int fd = shm_open(g_name, O_RDWR, 0);
        if (fd >= 0) {
            struct stat st;
            if (fstat(fd, &st) == 0 && st.st_size == SEG_SIZE) {
                struct ctl *m = mmap(NULL, SEG_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                if (m != MAP_FAILED) {
                    pid_t wp = atomic_load(&m->writer_pid);
                    if (atomic_load(&m->ready) == MAGIC && wp > 0 && kill(wp, 0) == 0)
                        c = m;
                    else
                        munmap(m, SEG_SIZE);
                }
            }
            close(fd);
        }
        if (c) break;
        usleep(20000);
    }
    int ff;
    while ((ff = open(g_fifo, O_RDONLY)) < 0) {
        if (errno == EINTR && g_stop) die(128 + g_stop);
        if (errno != EINTR) { perror("reader: open fifo"); die(1); }
    }
    atomic_store(&c->reader_pid, getpid());
    g_attached = 1;
    shm_unlink(g_name);
    unlink(g_fifo);
    for (;;) {
        ssize_t r = read(ff, buf, sizeof buf);
        if (r < 0) {
            if (errno == EINTR) { if (g_stop) die(128 + g_stop); continue; }
            die(1);
        }
        if (r == 0) {
            if (atomic_load(&c->done)) return 0;
            fprintf(stderr, "reader: writer died\n");
            die(1);
        }
        char *p = buf;
        while (r > 0) {
            ssize_t w = write(1, p, r);
            if (w < 0) {
                if (errno == EINTR) { if (g_stop) die(128 + g_stop); continue; }
                die(1);
            }
            p += w;
            r -= w;
        }
    }
}
