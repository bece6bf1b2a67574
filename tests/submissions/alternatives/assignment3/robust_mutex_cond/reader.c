/* robust_mutex_cond reader: byte ring in the segment NAME -> stdout. */
#include "shmring.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *name;
static struct seg *seg;

static void die(const char *why)
{
    if (why && !got_signal)
        fprintf(stderr, "reader: %s\n", why);
    if (seg) {
        STORE(&seg->h.c.rabort, 1);
        pthread_cond_broadcast(&seg->h.c.not_full);   /* wake the writer */
    }
    exit(fail_status());
}

/* 1 once attached; 0 while NAME holds nothing usable for us. */
static int try_attach(void)
{
    int fd = shm_open(name, O_RDWR, 0);
    if (fd < 0)
        return 0;
    struct stat st;
    void *p = MAP_FAILED;
    if (fstat(fd, &st) == 0 && st.st_size == SEG_SIZE)
        p = mmap(NULL, SEG_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return 0;
    struct ctl *c = &((struct seg *)p)->h.c;
    /* a live writer holds wlive; a dead one counts only if it had finished */
    int ok = LOAD(&c->ready) && c->magic == SEG_MAGIC && !LOAD(&c->attached)
             && !LOAD(&c->wabort)
             && (!holder_gone(&c->wlive) || LOAD(&c->eof));
    if (ok) {
        /* rlive tells the writer that we live; a reader killed while it was
         * attaching may have left it owner-dead: take it over */
        int e = pthread_mutex_trylock(&c->rlive);
        if (e == EOWNERDEAD)
            e = pthread_mutex_consistent(&c->rlive);
        ok = e == 0;
    }
    if (!ok) {
        munmap(p, SEG_SIZE);
        return 0;
    }
    seg = p;
    STORE(&c->reader_pid, (int32_t)getpid());
    STORE(&c->attached, 1);        /* we hold rlive: the writer may look */
    shm_unlink(name);              /* both keep it mapped: nothing can stay */
    return 1;
}

/* One write() of up to n bytes to stdout: how many went out. */
static size_t write_some(const unsigned char *buf, size_t n)
{
    for (;;) {
        ssize_t k = write(1, buf, n);
        if (k > 0)
            return (size_t)k;
        if (k < 0 && (errno == EINTR || errno == EAGAIN)) {
            if (got_signal)
                die(NULL);
            if (errno == EAGAIN) {
                struct pollfd p = { .fd = 1, .events = POLLOUT };
                poll(&p, 1, SLICE_MS);
            }
            continue;
        }
        perror("reader: write to stdout");
        die(NULL);
    }
}

int main(int argc, char **argv)
{
    check_args("reader", argc, argv);
    name = argv[1];
    setup_signals();

    while (!try_attach()) {
        if (got_signal)
            exit(128 + got_signal);
        pause_ms(RETRY_MS);
        if (got_signal)
            exit(128 + got_signal);
    }

    struct ctl *c = &seg->h.c;
    for (;;) {
        if (lock_ring(c) < 0)
            die(got_signal ? NULL : "the writer died holding the lock");
        while (c->rpos == c->wpos && !LOAD(&c->eof) && !LOAD(&c->wabort)) {
            int e = wait_slice(&c->not_empty, c);
            if (e == EOWNERDEAD)
                die("the writer died holding the lock");
            if (got_signal) {
                pthread_mutex_unlock(&c->m);
                die(NULL);
            }
            /* a dead writer: the loop condition is the one more look */
            if (e == ETIMEDOUT && holder_gone(&c->wlive)
                && c->rpos == c->wpos && !LOAD(&c->eof)) {
                pthread_mutex_unlock(&c->m);
                die("the writer died before the end of the stream");
            }
        }
        if (LOAD(&c->wabort)) {
            pthread_mutex_unlock(&c->m);
            die("the writer gave up before the end of the stream");
        }
        if (c->rpos == c->wpos)
            return 0;                  /* eof, and every byte is out */
        uint64_t rpos = c->rpos;
        size_t off = rpos % RING_SIZE;
        size_t n = (size_t)(c->wpos - rpos);
        pthread_mutex_unlock(&c->m);

        if (n > RING_SIZE - off)
            n = RING_SIZE - off;
        if (n > MAX_CHUNK)
            n = MAX_CHUNK;
        size_t k = write_some(seg->ring + off, n);

        if (lock_ring(c) < 0)
            die(got_signal ? NULL : "the writer died holding the lock");
        c->rpos += k;
        pthread_cond_signal(&c->not_full);
        pthread_mutex_unlock(&c->m);
    }
}
