/* named_sems_ring writer: stdin -> ring of NSLOTS slots in the segment NAME,
 * counted by the named semaphores NAME-free and NAME-full. */
#include "common.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *name;
static char free_name[NAME_MAX + 8], full_name[NAME_MAX + 8];
static struct seg *seg;
static sem_t *sfree = SEM_FAILED, *sfull = SEM_FAILED;

/* Ends the writer on a signal, an error or a dead reader: tells a reader that
 * the stream is incomplete and removes the names (ENOENT if the reader did:
 * only one pair uses a NAME at a time, so they can only be ours). */
static void die(const char *why)
{
    if (why && !got_signal)
        fprintf(stderr, "writer: %s\n", why);
    if (seg) {
        STORE(&seg->h.c.wabort, 1);
        if (sfull != SEM_FAILED)
            sem_post(sfull);                    /* wake a waiting reader */
    }
    shm_unlink(name);
    sem_unlink(free_name);
    sem_unlink(full_name);
    exit(fail_status());
}

/* The reader has attached and then given up or vanished. */
static int reader_lost(void)
{
    struct ctl *c = &seg->h.c;
    if (!LOAD(&c->attached))
        return 0;
    return LOAD(&c->rabort) || pid_gone(LOAD(&c->reader_pid));
}

static void create_objects(void)
{
    int fd = -1;
    for (int tries = 0; fd < 0 && tries < 10; tries++) {
        /* whatever is at NAME now is left over from a killed pair */
        shm_unlink(name);
        sem_unlink(free_name);
        sem_unlink(full_name);
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
    seg = p;
    sfree = sem_open(free_name, O_CREAT | O_EXCL, 0600, NSLOTS);
    sfull = sem_open(full_name, O_CREAT | O_EXCL, 0600, 0);
    if (sfree == SEM_FAILED || sfull == SEM_FAILED) {
        perror("writer: sem_open");
        sfull = SEM_FAILED;             /* nothing to wake */
        die(NULL);
    }
    struct ctl *c = &seg->h.c;        /* a new object is all zeros */
    c->magic = SEG_MAGIC;
    c->writer_pid = (int32_t)getpid();
    STORE(&c->ready, 1);              /* last: everything above is set up */
}

/* Takes a free slot: waits in slices, looking at signals and the reader. */
static void wait_free_slot(void)
{
    for (;;) {
        if (got_signal)
            die(NULL);
        int r = sem_wait_slice(sfree);
        if (r == 0)
            break;
        if (r < 0)
            die("sem_clockwait failed");
        if (r == 1 && reader_lost())
            die("the reader has gone");
    }
    if (LOAD(&seg->h.c.rabort))
        die("the reader has given up");
}

/* One read() of at most n bytes into buf, once stdin is readable.  Polls in
 * slices so that a signal or a lost reader is seen while stdin is silent. */
static ssize_t read_input(void *buf, size_t n)
{
    for (;;) {
        if (got_signal)
            die(NULL);
        struct pollfd p = { .fd = 0, .events = POLLIN };
        int r = poll(&p, 1, SLICE_MS);
        if (r < 0 && errno != EINTR)
            die("poll on stdin failed");
        if (r == 0 && reader_lost())
            die("the reader has gone");
        if (r <= 0)
            continue;
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
    sem_names(name, free_name, full_name, sizeof free_name);
    create_objects();

    struct ctl *c = &seg->h.c;
    for (unsigned w = 0;; w = (w + 1) % NSLOTS) {
        wait_free_slot();
        ssize_t n = read_input(seg->slot[w], SLOT_SIZE);
        if (n == 0 && LOAD(&c->rabort))
            die("the reader has given up");    /* nobody to end the stream for */
        c->len[w] = (uint32_t)n;       /* 0: the end of the stream */
        sem_post(sfull);               /* a full barrier: len and data first */
        if (n == 0)
            break;
    }
    /* The end slot is in the ring: a reader gets everything, even one that
     * attaches after we have gone (the names stay for it). */
    STORE(&c->finished, 1);
    return 0;
}
