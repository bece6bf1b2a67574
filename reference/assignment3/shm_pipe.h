/*
 * shm_pipe.h - what the writer and the reader share: the layout of the segment, the
 * protocol around it, and a few helpers (shm_pipe.c).
 *
 * One POSIX shared-memory object, named exactly NAME, of SHM_PIPE_SIZE = 64 KiB:
 *
 *   offset 0      control page (4 KiB): magic, PIDs, states, two semaphores, slot lengths
 *   offset 4096   SLOT_COUNT slots of SLOT_BYTES bytes: the ring the data goes round
 *
 * The two semaphores are unnamed (sem_init with pshared = 1) and live in the control page,
 * so the pair creates no object besides the segment, and a new segment always comes with
 * fresh semaphores:
 *
 *   free_slots  slots the writer may fill   (starts at SLOT_COUNT)
 *   full_slots  slots the reader may empty  (starts at 0)
 *
 * The writer fills slot w = 0, 1, ..., SLOT_COUNT-1, 0, ... and the reader empties them in
 * the same order; each keeps its own index, so no index is shared. length[i] is the number
 * of bytes in slot i, and a slot of length 0 is the end of the stream (a read() of 0 bytes
 * at EOF is exactly that).
 *
 * Who creates, who removes:
 *   - the writer creates the segment (after removing any object left at NAME by an earlier
 *     pair: a writer always starts a fresh pipe), initialises it, and publishes it by
 *     storing SHM_PIPE_MAGIC last. It holds an exclusive flock() on the object while it
 *     runs, so a reader that starts first can tell a live writer's segment from one left
 *     by a writer that was killed (unlocked, and not marked finished): it does not take
 *     data from that one but waits for a new writer, which replaces it;
 *   - the reader claims it (reader_pid: 0 -> its PID) and at once removes the name with
 *     shm_unlink(): both processes hold the mapping, the memory lives until both have
 *     unmapped it, and nothing can be left in /dev/shm however either of them ends;
 *   - a writer that ends abnormally before a reader has claimed the segment removes the
 *     name itself. A writer that ends normally before its reader came leaves the segment
 *     (the data is in it) for the reader, who removes it when it attaches.
 *   name_released makes sure only one of them calls shm_unlink() on this segment's name.
 */
#ifndef SHM_PIPE_H
#define SHM_PIPE_H

#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define SHM_PIPE_SIZE  65536u                       /* the whole segment, control included */
#define CONTROL_BYTES  4096u                        /* the control page */
#define SLOT_COUNT     8u
#define SLOT_BYTES     ((SHM_PIPE_SIZE - CONTROL_BYTES) / SLOT_COUNT)   /* 7,680 */
#define SHM_PIPE_MAGIC 0x33706873u                  /* "shp3": the writer has set it all up */

#define NAME_MAX_CHARS 100                          /* "/" and at most 99 more characters */

/* How long one blocking wait lasts before we look whether the partner is still there:
 * at most 4 wake-ups a second while idle, and a dead partner is noticed within 0.25 s. */
#define WAIT_SLICE_MS  250

enum writer_state { WRITER_WRITING, WRITER_FINISHED, WRITER_ABORTED };
enum reader_state { READER_READING, READER_FINISHED, READER_ABORTED };

struct shm_pipe {
    /* ---- control page ---- */
    _Atomic uint32_t magic;        /* SHM_PIPE_MAGIC once everything below is initialised */
    uint32_t slot_count;           /* SLOT_COUNT and SLOT_BYTES, for a sanity check */
    uint32_t slot_bytes;
    _Atomic pid_t writer_pid;      /* set by the writer before the magic */
    _Atomic pid_t reader_pid;      /* 0 until a reader claims the segment */
    _Atomic int writer_state;      /* enum writer_state */
    _Atomic int reader_state;      /* enum reader_state */
    _Atomic int name_released;     /* 1 once shm_unlink(NAME) has been called for it */
    sem_t free_slots;              /* slots the writer may fill */
    sem_t full_slots;              /* slots the reader may empty (data, or the end mark) */
    uint32_t length[SLOT_COUNT];   /* bytes in each slot; 0 = end of stream */

    /* ---- the ring ---- */
    _Alignas(CONTROL_BYTES) unsigned char data[SLOT_COUNT][SLOT_BYTES];
};

_Static_assert(sizeof(struct shm_pipe) == SHM_PIPE_SIZE, "the segment must be exactly 64 KiB");
_Static_assert(SLOT_BYTES * SLOT_COUNT + CONTROL_BYTES == SHM_PIPE_SIZE, "slots fill the ring");

enum role { WRITER, READER };

/* What a blocking wait ended with. */
enum wait_result {
    WAIT_OK,            /* got what we waited for */
    WAIT_SIGNAL,        /* SIGINT or SIGTERM arrived: clean up and leave */
    WAIT_PARTNER_GONE,  /* the other program died or gave up */
    WAIT_ERROR,         /* a system call failed (errno says why) */
};

/* The signal (SIGINT/SIGTERM) that asked us to stop, or 0. Set by the handler only. */
extern volatile sig_atomic_t stop_signal;

/* Checks argc/argv (exactly one NAME: "/" then 1 to 99 characters, none of them "/",
 * and not "/." or "/..", which shm_open() refuses);
 * on an error prints "usage: PROGRAM NAME" and a reason on stderr and exits 1, before
 * anything is created. Returns NAME. */
const char *parse_arguments(int argc, char **argv, const char *program);

/* Handlers for SIGINT and SIGTERM that only set stop_signal, installed without SA_RESTART
 * so that a blocking call returns EINTR; SIGPIPE ignored, so that writing to a closed
 * stdout is the error EPIPE rather than a silent death. */
void install_signal_handlers(void);

/* Is the process alive? (kill(pid, 0): EPERM means it exists but is not ours. A process
 * killed a moment ago still counts until its parent has reaped it.) */
bool process_alive(pid_t pid);

/* Has the partner of `me` died or given up? */
bool partner_gone(struct shm_pipe *seg, enum role me);

/* Takes one unit of `sem` (sem_clockwait in slices of WAIT_SLICE_MS), looking after each
 * slice whether a signal arrived or the partner has gone. */
enum wait_result wait_for_slot(struct shm_pipe *seg, sem_t *sem, enum role me);

/* shm_unlink(name), unless this segment's name has been removed already. */
void release_name(struct shm_pipe *seg, const char *name);

/* Exit status after SIGINT/SIGTERM (128 + signal number, as a shell reports it). */
int signal_status(void);

#endif
