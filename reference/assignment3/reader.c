/*
 * reader NAME - writes to its standard output, byte for byte, what a writer sends through
 * the POSIX shared-memory segment called NAME (see shm_pipe.h).
 *
 *   - waits up to ATTACH_SECONDS for a writer's segment, retrying shm_open() every 10 ms;
 *     a segment left by a pair that died (its writer is gone without finishing: nobody
 *     holds its flock() any more; or another reader claimed it) is not ours: we keep
 *     waiting for a new writer, which replaces it;
 *   - claims the segment, and removes its name at once (shm_unlink): both sides hold the
 *     mapping, so nothing of NAME can be left in /dev/shm however the pair ends;
 *   - empties the ring slot after slot with write() loops (partial writes, EINTR) until the
 *     slot of length 0, then exits 0;
 *   - waits without spinning, in sem_clockwait() slices of 0.25 s after which it looks
 *     whether the writer is still there; exits non-zero if it died or gave up (the output
 *     is then incomplete), on SIGINT/SIGTERM, and if stdout fails (EPIPE), telling the
 *     writer so that it ends too.
 */
#define _GNU_SOURCE
#include "shm_pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ATTACH_SECONDS 20   /* the handout asks for at least 10 */
#define RETRY_MS       10   /* between two shm_open() tries (the handout: at least 10 ms) */

static const char *name;
static struct shm_pipe *seg;

static void abort_pipe(int status)
{
    if (seg != NULL) {
        atomic_store(&seg->reader_state, READER_ABORTED);
        sem_post(&seg->free_slots); /* wake a writer that waits for space */
        release_name(seg, name);
    }
    exit(status);
}

/* Is the writer of the segment open at `fd` still running? It holds an exclusive flock()
 * on it as long as it runs, and the kernel drops that lock the moment it exits. (Asking
 * kill(pid, 0) alone is not enough here: a writer killed a moment ago is a zombie until
 * its parent reaps it, and kill() still finds it.) */
static bool writer_running(int fd, pid_t writer_pid)
{
    if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
        flock(fd, LOCK_UN);
        return false; /* nobody holds the writer's lock */
    }
    /* EWOULDBLOCK: the writer holds it. Any other error: no locks here, ask the PID. */
    return errno == EWOULDBLOCK || process_alive(writer_pid);
}

/* Why the segment at NAME, open at `fd`, is not one to read from (NULL: it is). */
static const char *not_ours(struct shm_pipe *candidate, int fd)
{
    if (atomic_load_explicit(&candidate->magic, memory_order_acquire) != SHM_PIPE_MAGIC)
        return "being set up"; /* the writer has not published it yet */
    if (candidate->slot_count != SLOT_COUNT || candidate->slot_bytes != SLOT_BYTES)
        return "not laid out as we expect";
    int state = atomic_load(&candidate->writer_state);
    if (state == WRITER_ABORTED)
        return "given up by its writer";
    if (state != WRITER_FINISHED && !writer_running(fd, atomic_load(&candidate->writer_pid)))
        return "left by a writer that died";
    if (atomic_load(&candidate->reader_pid) != 0)
        return "claimed by another reader";
    return NULL;
}

/* One try: open NAME, check it, claim it. True when seg is ours. `why` says why not. */
static bool try_attach(const char **why)
{
    int fd = shm_open(name, O_RDWR, 0);
    if (fd == -1) {
        if (errno == ENOENT) {
            *why = NULL; /* no writer yet */
            return false;
        }
        perror("shm_open");
        exit(1);
    }
    struct stat st;
    if (fstat(fd, &st) == -1) {
        perror("fstat");
        exit(1);
    }
    if (st.st_size != SHM_PIPE_SIZE) { /* 0 between the writer's shm_open and ftruncate */
        close(fd);
        *why = "being set up";
        return false;
    }
    void *memory = mmap(NULL, SHM_PIPE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (memory == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    struct shm_pipe *candidate = memory;
    pid_t none = 0;
    *why = not_ours(candidate, fd);
    if (*why == NULL &&
        !atomic_compare_exchange_strong(&candidate->reader_pid, &none, getpid()))
        *why = "claimed by another reader";
    close(fd); /* the mapping keeps the object */
    if (*why != NULL) {
        munmap(memory, SHM_PIPE_SIZE);
        return false;
    }
    seg = candidate;
    return true;
}

/* Waits for the writer's segment and claims it; exits 1 if none comes in time. */
static void attach(void)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    const char *said = NULL;
    for (;;) {
        const char *why;
        if (try_attach(&why))
            return;
        if (why != NULL && why != said && strcmp(why, "being set up") != 0)
            fprintf(stderr, "reader: %s is %s; waiting for a new writer\n", name, why);
        said = why;
        if (stop_signal)
            exit(signal_status()); /* nothing of ours to remove */
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= ATTACH_SECONDS) {
            fprintf(stderr, "reader: no writer for %s after %d s\n", name, ATTACH_SECONDS);
            exit(1);
        }
        struct timespec pause = {0, RETRY_MS * 1000000L};
        nanosleep(&pause, NULL); /* EINTR on a signal: we look at stop_signal next round */
    }
}

/* write() until all `length` bytes are out: a write may take fewer bytes than asked. */
static int write_all(int fd, const unsigned char *bytes, size_t length)
{
    while (length > 0) {
        ssize_t done = write(fd, bytes, length);
        if (done == -1) {
            if (errno == EINTR && !stop_signal)
                continue;
            return -1;
        }
        bytes += done;
        length -= (size_t)done;
    }
    return 0;
}

int main(int argc, char **argv)
{
    name = parse_arguments(argc, argv, "reader");
    install_signal_handlers();
    attach();
    /* Both of us hold the mapping now: the name has done its job. */
    release_name(seg, name);

    for (unsigned slot = 0;; slot = (slot + 1) % SLOT_COUNT) {
        enum wait_result result = wait_for_slot(seg, &seg->full_slots, READER);
        if (result == WAIT_OK && atomic_load(&seg->writer_state) == WRITER_ABORTED)
            result = WAIT_PARTNER_GONE; /* it woke us to say it gave up */
        if (result == WAIT_SIGNAL)
            abort_pipe(signal_status());
        if (result == WAIT_PARTNER_GONE) {
            fprintf(stderr, "reader: %s: the writer died before the end of its input\n", name);
            abort_pipe(1);
        }
        if (result == WAIT_ERROR) {
            perror("sem_clockwait");
            abort_pipe(1);
        }

        uint32_t length = seg->length[slot];
        if (length == 0) { /* the end mark */
            atomic_store(&seg->reader_state, READER_FINISHED);
            munmap(seg, SHM_PIPE_SIZE);
            return 0;
        }
        if (length > SLOT_BYTES) {
            fprintf(stderr, "reader: %s: corrupt slot length %u\n", name, length);
            abort_pipe(1);
        }
        if (write_all(STDOUT_FILENO, seg->data[slot], length) == -1) {
            if (stop_signal)
                abort_pipe(signal_status());
            perror("reader: write stdout");
            abort_pipe(1);
        }
        sem_post(&seg->free_slots);
    }
}
