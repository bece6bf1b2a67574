/* named_sems_ring reader: ring of slots in the segment NAME -> stdout. */
#include "common.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *name;
static char free_name[NAME_MAX + 8], full_name[NAME_MAX + 8];
static struct seg *seg;
static sem_t *sfree = SEM_FAILED, *sfull = SEM_FAILED;

/* Ends the reader on a signal or an error after attaching: the names are gone
 * already; tell the writer that nobody reads any more. */
static void die(const char *why)
{
    if (why && !got_signal)
        fprintf(stderr, "reader: %s\n", why);
    if (seg) {
        STORE(&seg->h.c.rabort, 1);
        sem_post(sfree);                       /* wake a waiting writer */
    }
    exit(fail_status());
}

/* One try at attaching: 1 on success, 0 when NAME holds nothing usable yet
 * (missing, being set up, or left by a writer that died unfinished). */
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
    struct seg *s = p;
    struct ctl *c = &s->h.c;
    int ok = LOAD(&c->ready) && c->magic == SEG_MAGIC && !LOAD(&c->wabort)
             && !LOAD(&c->attached);
    if (ok) {
        /* alive first: a writer that has exited set "finished" before */
        int32_t pid = LOAD(&c->writer_pid);
        ok = pid > 0 && (!pid_gone(pid) || LOAD(&c->finished));
    }
    if (ok) {
        sfree = sem_open(free_name, 0);
        sfull = sem_open(full_name, 0);
        ok = sfree != SEM_FAILED && sfull != SEM_FAILED;
        if (!ok) {
            if (sfree != SEM_FAILED)
                sem_close(sfree);
            if (sfull != SEM_FAILED)
                sem_close(sfull);
            sfree = sfull = SEM_FAILED;
        }
    }
    if (ok) {
        /* claim the segment: our pid first, so that a writer that sees
         * "attached" can always tell whether we still live */
        uint32_t zero = 0;
        STORE(&c->reader_pid, (int32_t)getpid());
        ok = __atomic_compare_exchange_n(&c->attached, &zero, 1, 0,
                                         __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
        if (!ok) {
            sem_close(sfree);
            sem_close(sfull);
            sfree = sfull = SEM_FAILED;
        }
    }
    if (!ok) {
        munmap(p, SEG_SIZE);
        return 0;
    }
    seg = s;
    /* Both of us keep the objects mapped or open: remove the names now, so
     * that nothing can be left in /dev/shm however either of us ends (a
     * writer that ends on an error removes them too). */
    shm_unlink(name);
    sem_unlink(free_name);
    sem_unlink(full_name);
    return 1;
}

/* Writes all n bytes to stdout. */
static void write_all(const unsigned char *buf, size_t n)
{
    while (n > 0) {
        ssize_t k = write(1, buf, n);
        if (k > 0) {
            buf += k;
            n -= (size_t)k;
            continue;
        }
        if (k < 0 && errno == EINTR) {
            if (got_signal)
                die(NULL);
            continue;
        }
        if (k < 0 && errno == EAGAIN) {        /* a non-blocking stdout */
            struct pollfd p = { .fd = 1, .events = POLLOUT };
            poll(&p, 1, SLICE_MS);
            if (got_signal)
                die(NULL);
            continue;
        }
        perror("reader: write to stdout");
        die(NULL);
    }
}

/* Takes a full slot: waits in slices, looking at signals and the writer. */
static void wait_full_slot(void)
{
    struct ctl *c = &seg->h.c;
    for (;;) {
        if (got_signal)
            die(NULL);
        int r = sem_wait_slice(sfull);
        if (r == 0)
            break;
        if (r < 0)
            die("sem_clockwait failed");
        if (r == 1 && pid_gone(LOAD(&c->writer_pid))) {
            /* one more look: it may have posted its last slots and left */
            if (sem_trywait(sfull) == 0)
                break;
            die("the writer died before the end of the stream");
        }
    }
    if (LOAD(&c->wabort))
        die("the writer gave up before the end of the stream");
}

int main(int argc, char **argv)
{
    check_args("reader", argc, argv);
    name = argv[1];
    setup_signals();
    sem_names(name, free_name, full_name, sizeof free_name);

    while (!try_attach()) {
        if (got_signal)
            exit(128 + got_signal);
        pause_ms(RETRY_MS);
        if (got_signal)
            exit(128 + got_signal);
    }

    struct ctl *c = &seg->h.c;
    for (unsigned r = 0;; r = (r + 1) % NSLOTS) {
        wait_full_slot();
        uint32_t n = c->len[r];
        if (n == 0)
            return 0;                   /* the end: everything is out */
        if (n > SLOT_SIZE)
            die("corrupt slot length");
        write_all(seg->slot[r], n);
        sem_post(sfree);
    }
}
