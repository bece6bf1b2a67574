#include "common.h"

static const char *g_name;

static void die(int code)
{
    shm_unlink(g_name);
    exit(code);
}

static void sig_exit(void) { die(128 + g_stop); }

int main(int argc, char **argv)
{
    g_name = check_args(argc, argv, "writer");
    install_handlers();

    /* Anything at NAME is left over from a killed pair: replace it. */
    shm_unlink(g_name);
    int fd = shm_open(g_name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) { perror("writer: shm_open"); return 1; }
    if (flock(fd, LOCK_EX) < 0) { perror("writer: flock"); die(1); }
    if (ftruncate(fd, SEG_SIZE) < 0) { perror("writer: ftruncate"); die(1); }
    void *map = mmap(NULL, SEG_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) { perror("writer: mmap"); die(1); }
    struct ctl *c = map;
    unsigned char *data = (unsigned char *)map + DATA_OFF;

    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&c->mu, &ma);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->not_empty, &ca);
    pthread_cond_init(&c->not_full, &ca);
    c->cap = SEG_SIZE - DATA_OFF;
    c->head = c->tail = 0;
    c->eof = 0;
    c->reader_failed = 0;
    c->reader_pid = 0;
    c->writer_pid = getpid();
    atomic_store_explicit(&c->ready, MAGIC, memory_order_release);

    const uint64_t cap = c->cap;
    for (;;) {
        int lr = ctl_lock(c);
        if (lr < 0) sig_exit();
        if (lr == 1) { fprintf(stderr, "writer: reader died\n"); die(1); }
        for (;;) {
            if (c->reader_failed) {
                ctl_unlock(c);
                fprintf(stderr, "writer: reader failed\n");
                die(1);
            }
            if (g_stop) { ctl_unlock(c); sig_exit(); }
            if (c->head - c->tail < cap) break;
            struct timespec d = deadline(SLICE_NS);
            int r = pthread_cond_timedwait(&c->not_full, &c->mu, &d);
            if (r == EOWNERDEAD) {
                pthread_mutex_consistent(&c->mu);
                ctl_unlock(c);
                fprintf(stderr, "writer: reader died\n");
                die(1);
            }
            if (r == ETIMEDOUT) {
                pid_t rp = c->reader_pid;
                if (rp > 0 && kill(rp, 0) == -1 && errno == ESRCH) {
                    ctl_unlock(c);
                    fprintf(stderr, "writer: reader died\n");
                    die(1);
                }
            }
        }
        uint64_t used = c->head - c->tail;
        uint64_t off = c->head % cap;
        uint64_t n = cap - used;
        if (n > cap - off) n = cap - off;
        ctl_unlock(c);

        ssize_t r;
        for (;;) {
            r = read(0, data + off, n);
            if (r >= 0) break;
            if (errno == EINTR) {
                if (g_stop) sig_exit();
                continue;
            }
            perror("writer: read");
            die(1);
        }
        lr = ctl_lock(c);
        if (lr < 0) sig_exit();
        if (lr == 1) { fprintf(stderr, "writer: reader died\n"); die(1); }
        if (r == 0) {
            c->eof = 1;
            pthread_cond_broadcast(&c->not_empty);
            ctl_unlock(c);
            /* Last byte is in the buffer: done. The segment stays for a
             * reader that has not attached yet (it unlinks it). */
            return 0;
        }
        c->head += (uint64_t)r;
        pthread_cond_signal(&c->not_empty);
        ctl_unlock(c);
    }
}
