/*
 * writer NAME - copies its standard input, byte for byte, to a reader through a POSIX
 * shared-memory segment called NAME (see shm_pipe.h for the layout and the protocol).
 *
 *   - creates a fresh segment (replacing whatever an earlier pair left at NAME), and holds
 *     an exclusive flock() on it while it runs, as a sign of life;
 *   - reads stdin straight into the next free slot of the ring: as much as one read()
 *     returns, at most one slot, so a line typed now reaches the reader now;
 *   - at EOF posts a slot of length 0 (the end mark) and exits 0 at once: the reader
 *     finds everything in the segment, even if it starts after we have gone;
 *   - waits without spinning: for a free slot in sem_clockwait(), for input in poll(),
 *     each in slices of 0.25 s after which it looks whether the reader is still there;
 *   - on SIGINT/SIGTERM, or when the reader has died or given up, marks the segment
 *     aborted, removes NAME if the reader has not done so, and exits non-zero.
 */
#define _GNU_SOURCE
#include "shm_pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *name;          /* NAME, from the command line */
static struct shm_pipe *seg;      /* our mapping of it, once created */

/* Leaves after an error, a signal or a dead reader: tells the reader (if one comes, or is
 * there) that the stream is broken, removes the name if still ours, exits non-zero. */
static void abort_pipe(int status)
{
    if (seg != NULL) {
        atomic_store(&seg->writer_state, WRITER_ABORTED);
        sem_post(&seg->full_slots); /* wake a reader that waits for data */
        release_name(seg, name);
    }
    exit(status);
}

/* Status for a wait that did not end with WAIT_OK, with a word on stderr. */
static int failed_wait(enum wait_result result, const char *what)
{
    switch (result) {
    case WAIT_SIGNAL:
        return signal_status();
    case WAIT_PARTNER_GONE:
        fprintf(stderr, "writer: %s: the reader has gone away\n", name);
        return 1;
    default:
        perror(what);
        return 1;
    }
}

/* Creates NAME afresh, sized and initialised, and publishes it (magic stored last). */
static void create_segment(void)
{
    int fd = -1;
    for (int attempt = 0; fd == -1; attempt++) {
        /* Whatever is at NAME now was left by an earlier pair (the handout runs one pair
         * per NAME at a time): it goes, with its old data and its old semaphores. */
        if (shm_unlink(name) == -1 && errno != ENOENT) {
            perror("shm_unlink");
            exit(1);
        }
        fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
        if (fd == -1 && (errno != EEXIST || attempt == 10)) {
            perror("shm_open");
            exit(1);
        }
    }
    if (ftruncate(fd, SHM_PIPE_SIZE) == -1) {
        perror("ftruncate");
        shm_unlink(name);
        exit(1);
    }
    void *memory = mmap(NULL, SHM_PIPE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (memory == MAP_FAILED) {
        perror("mmap");
        shm_unlink(name);
        exit(1);
    }
    /* Our sign of life, for a reader that starts first and finds this segment: an
     * exclusive lock on it, held as long as we run. The kernel drops it when we exit,
     * however we exit, before we are a zombie that kill(pid, 0) would still find.
     * (So the descriptor stays open; the mapping alone would keep the object.) */
    if (flock(fd, LOCK_EX | LOCK_NB) == -1)
        perror("flock"); /* the reader then relies on kill(pid, 0) alone */

    struct shm_pipe *fresh = memory; /* all zero: ftruncate() of a new object */
    fresh->slot_count = SLOT_COUNT;
    fresh->slot_bytes = SLOT_BYTES;
    if (sem_init(&fresh->free_slots, 1, SLOT_COUNT) == -1 ||
        sem_init(&fresh->full_slots, 1, 0) == -1) {
        perror("sem_init");
        shm_unlink(name);
        exit(1);
    }
    atomic_store(&fresh->writer_pid, getpid());
    atomic_store(&fresh->writer_state, WRITER_WRITING);
    atomic_store(&fresh->reader_state, READER_READING);
    /* Release: a reader that sees the magic sees everything stored before it. */
    atomic_store_explicit(&fresh->magic, SHM_PIPE_MAGIC, memory_order_release);
    seg = fresh;
}

/* Waits until stdin has something to read (data, EOF or an error), in slices. */
static enum wait_result wait_for_input(void)
{
    for (;;) {
        if (stop_signal)
            return WAIT_SIGNAL;
        struct pollfd in = {.fd = STDIN_FILENO, .events = POLLIN};
        int ready = poll(&in, 1, WAIT_SLICE_MS);
        if (ready > 0)
            return WAIT_OK; /* POLLIN, POLLHUP or POLLERR: read() tells which */
        if (ready == -1 && errno != EINTR)
            return WAIT_ERROR;
        if (ready == 0 && partner_gone(seg, WRITER))
            return WAIT_PARTNER_GONE;
    }
}

int main(int argc, char **argv)
{
    name = parse_arguments(argc, argv, "writer");
    install_signal_handlers();
    create_segment();
    if (stop_signal)
        abort_pipe(signal_status());

    for (unsigned slot = 0;; slot = (slot + 1) % SLOT_COUNT) {
        enum wait_result result = wait_for_slot(seg, &seg->free_slots, WRITER);
        if (result == WAIT_OK && atomic_load(&seg->reader_state) == READER_ABORTED)
            result = WAIT_PARTNER_GONE; /* e.g. its stdout was closed: it woke us to say so */
        if (result != WAIT_OK)
            abort_pipe(failed_wait(result, "sem_clockwait"));

        /* Fill the slot with whatever one read() gives: never wait for a full slot. */
        ssize_t got;
        for (;;) {
            result = wait_for_input();
            if (result != WAIT_OK)
                abort_pipe(failed_wait(result, "poll"));
            got = read(STDIN_FILENO, seg->data[slot], SLOT_BYTES);
            if (got >= 0)
                break;
            if (errno != EINTR && errno != EAGAIN) {
                perror("writer: read stdin");
                abort_pipe(1);
            }
        }
        /* A reader that quit while we waited for input will never read this slot. At EOF
         * we also ask whether it is alive: exit 0 says that the data was handed over. */
        if (atomic_load(&seg->reader_state) == READER_ABORTED ||
            (got == 0 && partner_gone(seg, WRITER)))
            abort_pipe(failed_wait(WAIT_PARTNER_GONE, NULL));
        seg->length[slot] = (uint32_t)got;
        if (got == 0)
            atomic_store(&seg->writer_state, WRITER_FINISHED); /* before the end mark */
        sem_post(&seg->full_slots); /* publishes length and data (a full barrier) */
        if (got == 0)
            break;
    }
    /* The end mark is in the ring. The reader removes the name when it attaches (it may
     * not have started yet: the segment waits for it with our data). */
    munmap(seg, SHM_PIPE_SIZE);
    return 0;
}
