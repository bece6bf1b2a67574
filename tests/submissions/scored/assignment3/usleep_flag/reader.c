#include "common.h"

static const char *g_name;
static int g_attached;

static void die(int code)
{
    if (g_attached) shm_unlink(g_name);
    exit(code);
}

static int writer_gone(int fd) { return flock(fd, LOCK_SH | LOCK_NB) == 0; }

int main(int argc, char **argv)
{
    g_name = check_args(argc, argv, "reader");
    install_handlers();

    int fd;
    struct ctl *c = NULL;
    for (;;) {
        if (g_stop) die(128 + g_stop);
        fd = shm_open(g_name, O_RDWR, 0);
        if (fd >= 0) {
            struct stat st;
            int ok = 0;
            if (fstat(fd, &st) == 0 && st.st_size == SEG_SIZE) {
                void *m = mmap(NULL, SEG_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                if (m != MAP_FAILED) {
                    c = m;
                    if (atomic_load(&c->ready) == MAGIC) {
                        if (!writer_gone(fd) || atomic_load(&c->eof)) ok = 1;
                        else flock(fd, LOCK_UN);
                    }
                    if (!ok) munmap(m, SEG_SIZE);
                }
            }
            if (ok) break;
            close(fd);
        }
        usleep(20000);
    }
    atomic_store(&c->reader_pid, getpid());
    g_attached = 1;
    shm_unlink(g_name);

    unsigned char *data = (unsigned char *)c + DATA_OFF;
    const uint64_t cap = c->cap;
    uint64_t tail = 0;
    for (;;) {
        uint64_t head;
        unsigned polls = 0;
        int gone = 0;
        while ((head = atomic_load(&c->head)) == tail) {
            if (atomic_load(&c->eof)) {
                if (atomic_load(&c->head) == tail) return 0;
                continue;
            }
            if (g_stop) die(128 + g_stop);
            if (gone) { fprintf(stderr, "reader: writer died\n"); die(1); }
            if (++polls % CHECK_EVERY == 0) gone = writer_gone(fd);
            usleep(POLL_US);
        }
        uint64_t off = tail % cap;
        uint64_t n = head - tail;
        if (n > cap - off) n = cap - off;
        unsigned char *p = data + off;
        uint64_t left = n;
        while (left > 0) {
            ssize_t w = write(1, p, left);
            if (w < 0) {
                if (errno == EINTR) { if (g_stop) die(128 + g_stop); continue; }
                perror("reader: write");
                atomic_store(&c->reader_failed, 1);
                die(1);
            }
            p += w;
            left -= (uint64_t)w;
        }
        tail += n;
        atomic_store(&c->tail, tail);
    }
}
