#include "common.h"

static const char *g_name;
static int g_attached;

static void die(int code)
{
    if (g_attached) shm_unlink(g_name);
    exit(code);
}

static void sig_exit(void) { die(128 + g_stop); }

static void nap(long ns)
{
    struct timespec t = { 0, ns };
    nanosleep(&t, NULL);
}

/* The writer holds an exclusive flock on the segment for its lifetime. */
static int writer_gone(int fd)
{
    return flock(fd, LOCK_SH | LOCK_NB) == 0;
}

int main(int argc, char **argv)
{
    g_name = check_args(argc, argv, "reader");
    install_handlers();

    int fd = -1;
    struct ctl *c = NULL;
    for (;;) {
        if (g_stop) sig_exit();
        fd = shm_open(g_name, O_RDWR, 0);
        if (fd >= 0) {
            struct stat st;
            int ok = 0;
            if (fstat(fd, &st) == 0 && st.st_size == SEG_SIZE) {
                void *m = mmap(NULL, SEG_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                if (m != MAP_FAILED) {
                    c = m;
                    if (atomic_load_explicit(&c->ready, memory_order_acquire) == MAGIC) {
                        if (!writer_gone(fd)) ok = 1;
                        else {
                            int lr = ctl_lock(c);
                            if (lr < 0) sig_exit();
                            int fin = c->eof;
                            ctl_unlock(c);
                            if (fin) ok = 1;
                            else flock(fd, LOCK_UN);
                        }
                    }
                    if (!ok) munmap(m, SEG_SIZE);
                }
            }
            if (ok) break;
            close(fd);
        }
        nap(20000000L);
    }

    int lr = ctl_lock(c);
    if (lr < 0) sig_exit();
    c->reader_pid = getpid();
    pthread_cond_broadcast(&c->not_full);
    ctl_unlock(c);
    g_attached = 1;
    shm_unlink(g_name);

    unsigned char *data = (unsigned char *)c + DATA_OFF;
    const uint64_t cap = c->cap;
    for (;;) {
        lr = ctl_lock(c);
        if (lr < 0) sig_exit();
        if (lr == 1) { fprintf(stderr, "reader: writer died\n"); die(1); }
        int gone = 0;
        for (;;) {
            if (c->head != c->tail) break;
            if (c->eof) { ctl_unlock(c); return 0; }
            if (g_stop) { ctl_unlock(c); sig_exit(); }
            if (gone) {
                ctl_unlock(c);
                fprintf(stderr, "reader: writer died mid-transfer\n");
                die(1);
            }
            struct timespec d = deadline(SLICE_NS);
            int r = pthread_cond_timedwait(&c->not_empty, &c->mu, &d);
            if (r == EOWNERDEAD) {
                pthread_mutex_consistent(&c->mu);
                gone = 1;
            } else if (r == ETIMEDOUT) {
                gone = writer_gone(fd);
            }
        }
        uint64_t off = c->tail % cap;
        uint64_t n = c->head - c->tail;
        if (n > cap - off) n = cap - off;
        ctl_unlock(c);

        unsigned char *p = data + off;
        uint64_t left = n;
        while (left > 0) {
            ssize_t w = write(1, p, left);
            if (w < 0) {
                if (errno == EINTR) {
                    if (g_stop) sig_exit();
                    continue;
                }
                perror("reader: write");
                if (ctl_lock(c) >= 0) {
                    c->reader_failed = 1;
                    pthread_cond_broadcast(&c->not_full);
                    ctl_unlock(c);
                }
                die(1);
            }
            p += w;
            left -= (uint64_t)w;
        }
        lr = ctl_lock(c);
        if (lr < 0) sig_exit();
        c->tail += n;
        pthread_cond_signal(&c->not_full);
        ctl_unlock(c);
    }
}
