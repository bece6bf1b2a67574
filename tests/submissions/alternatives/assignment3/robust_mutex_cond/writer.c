/* robust_mutex_cond writer: stdin -> byte ring in the segment NAME. */
#include "shmring.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *name;
static struct seg *seg;
static sigset_t wait_mask;      /* the mask while ppoll() waits for stdin */

static void die(const char *why)
{
    if (why && !got_signal)
        fprintf(stderr, "writer: %s\n", why);
    if (seg) {
        struct ctl *c = &seg->h.c;
        STORE(&c->wabort, 1);
        pthread_cond_broadcast(&c->not_empty);     /* wake a waiting reader */
    }
    /* ENOENT if the reader removed it; one pair per NAME: it is ours */
    shm_unlink(name);
    exit(fail_status());
}

static void create_segment(void)
{
    int fd = -1;
    for (int tries = 0; fd < 0 && tries < 10; tries++) {
        shm_unlink(name);              /* anything at NAME is left over */
        fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        perror("writer: shm_open");
        die(NULL);
    }
    if (ftruncate(fd, SEG_SIZE) < 0) {
        perror("writer: ftruncate");
        close(fd);
        die(NULL);
    }
    void *p = mmap(NULL, SEG_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        perror("writer: mmap");
        die(NULL);
    }
    struct ctl *c = &((struct seg *)p)->h.c;
    if (init_sync(c) != 0 || pthread_mutex_lock(&c->wlive) != 0) {
        fprintf(stderr, "writer: cannot set up the mutexes\n");
        munmap(p, SEG_SIZE);
        die(NULL);
    }
    seg = p;
    c->magic = SEG_MAGIC;
    c->writer_pid = (int32_t)getpid();
    STORE(&c->ready, 1);               /* last */
}

/* One read() into buf once stdin is readable.  SIGINT and SIGTERM are blocked
 * except inside ppoll(), so a signal can never slip in between the look at
 * got_signal and the wait: no timeout is needed, and an idle writer sleeps. */
static ssize_t read_input(void *buf, size_t n)
{
    for (;;) {
        sigset_t old;
        sigset_t block;
        sigemptyset(&block);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGTERM);
        sigprocmask(SIG_BLOCK, &block, &old);
        if (got_signal)
            die(NULL);
        struct pollfd p = { .fd = 0, .events = POLLIN };
        int r = ppoll(&p, 1, NULL, &wait_mask);
        int err = errno;
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (r < 0 && err == EINTR)
            continue;
        if (r < 0) {
            errno = err;
            perror("writer: ppoll");
            die(NULL);
        }
        ssize_t k = read(0, buf, n);
        if (k >= 0)
            return k;
        if (errno != EINTR && errno != EAGAIN) {
            perror("writer: read");
            die(NULL);
        }
    }
}

int main(int argc, char **argv)
{
    check_args("writer", argc, argv);
    name = argv[1];
    setup_signals();
    sigprocmask(SIG_SETMASK, NULL, &wait_mask);
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGTERM);
    create_segment();

    struct ctl *c = &seg->h.c;
    for (;;) {
        /* wait for room */
        if (lock_ring(c) < 0)
            die(got_signal ? NULL : "the reader died holding the lock");
        while (c->wpos - c->rpos == RING_SIZE && !LOAD(&c->rabort)) {
            int e = wait_slice(&c->not_full, c);
            if (e == EOWNERDEAD)
                die("the reader died holding the lock");
            if (got_signal || (e == ETIMEDOUT && LOAD(&c->attached)
                               && holder_gone(&c->rlive))) {
                pthread_mutex_unlock(&c->m);
                die("the reader has gone");
            }
        }
        if (LOAD(&c->rabort)) {
            pthread_mutex_unlock(&c->m);
            die("the reader has given up");
        }
        uint64_t wpos = c->wpos;
        size_t off = wpos % RING_SIZE;
        size_t room = RING_SIZE - (size_t)(wpos - c->rpos);
        pthread_mutex_unlock(&c->m);

        /* [off, off + n) is ours until wpos moves past it */
        size_t n = RING_SIZE - off;
        if (n > room)
            n = room;
        if (n > MAX_CHUNK)
            n = MAX_CHUNK;
        ssize_t k = read_input(seg->ring + off, n);
        if (k == 0 && LOAD(&c->rabort))
            die("the reader has given up");    /* nobody to end the stream for */

        if (lock_ring(c) < 0)
            die(got_signal ? NULL : "the reader died holding the lock");
        if (k > 0)
            c->wpos += (uint64_t)k;
        else
            STORE(&c->eof, 1);
        pthread_cond_signal(&c->not_empty);
        pthread_mutex_unlock(&c->m);
        if (k == 0)
            return 0;          /* all is in the ring; NAME stays for a late reader */
    }
}
