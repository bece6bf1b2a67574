#include "common.h"

static const char *g_name;

static void die(int code)
{
    shm_unlink(g_name);
    exit(code);
}

int main(int argc, char **argv)
{
    g_name = check_args(argc, argv, "writer");
    install_handlers();

    shm_unlink(g_name);
    int fd = shm_open(g_name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) { perror("writer: shm_open"); return 1; }
    if (flock(fd, LOCK_EX) < 0) { perror("writer: flock"); die(1); }
    if (ftruncate(fd, SEG_SIZE) < 0) { perror("writer: ftruncate"); die(1); }
    void *map = mmap(NULL, SEG_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) { perror("writer: mmap"); die(1); }
    struct ctl *c = map;
    unsigned char *data = (unsigned char *)map + DATA_OFF;
    c->cap = SEG_SIZE - DATA_OFF;
    c->writer_pid = getpid();
    atomic_store(&c->ready, MAGIC);

    const uint64_t cap = c->cap;
    uint64_t head = 0;
    for (;;) {
        uint64_t tail;
        unsigned polls = 0;
        while (head - (tail = atomic_load(&c->tail)) >= cap) {
            if (g_stop) die(128 + g_stop);
            if (atomic_load(&c->reader_failed)) die(1);
            if (++polls % CHECK_EVERY == 0) {
                pid_t rp = atomic_load(&c->reader_pid);
                if (rp > 0 && kill(rp, 0) == -1 && errno == ESRCH) {
                    fprintf(stderr, "writer: reader died\n");
                    die(1);
                }
            }
            usleep(POLL_US);
        }
        uint64_t off = head % cap;
        uint64_t n = cap - (head - tail);
        if (n > cap - off) n = cap - off;
        ssize_t r;
        for (;;) {
            r = read(0, data + off, n);
            if (r >= 0) break;
            if (errno == EINTR) {
                if (g_stop) die(128 + g_stop);
                continue;
            }
            perror("writer: read");
            die(1);
        }
        if (r == 0) {
            atomic_store(&c->eof, 1);
            return 0;
        }
        head += (uint64_t)r;
        atomic_store(&c->head, head);
    }
}
