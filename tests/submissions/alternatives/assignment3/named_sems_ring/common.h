/* named_sems_ring: shared declarations of writer and reader. */
#ifndef COMMON_H
#define COMMON_H
#define _GNU_SOURCE
#include <semaphore.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SEG_SIZE  65536u        /* the one shm_open() object: exactly 64 KiB */
#define HDR_SIZE  4096u         /* control page */
#define SLOT_SIZE 4096u         /* one slot = one read() from stdin at most */
#define NSLOTS    ((SEG_SIZE - HDR_SIZE) / SLOT_SIZE)   /* 15 */
#define SEG_MAGIC 0x53334e53u   /* "SN3S" */
#define SLICE_MS  250           /* timed waits: 4 wake-ups a second at most */
#define RETRY_MS  20            /* reader's pause between shm_open() tries */

struct ctl {
    uint32_t magic;
    uint32_t ready;             /* stored last by the writer (release) */
    int32_t  writer_pid;
    int32_t  reader_pid;
    uint32_t attached;          /* reader attached and has unlinked every name */
    uint32_t finished;          /* writer posted its end slot (length 0) */
    uint32_t wabort;            /* writer gave up: the stream is incomplete */
    uint32_t rabort;            /* reader gave up: nobody will read */
    uint32_t len[NSLOTS];       /* bytes in each slot; 0 marks the end */
};

struct seg {
    union { struct ctl c; unsigned char pad[HDR_SIZE]; } h;
    unsigned char slot[NSLOTS][SLOT_SIZE];
};

_Static_assert(sizeof(struct seg) == SEG_SIZE, "segment must be 64 KiB");

extern volatile sig_atomic_t got_signal;

/* Exits 1 with a usage line unless argv is exactly PROG NAME with a valid NAME. */
void check_args(const char *prog, int argc, char **argv);
/* SIGINT/SIGTERM set got_signal (no SA_RESTART); SIGPIPE is ignored. */
void setup_signals(void);
/* "NAME-free" and "NAME-full": names of the two semaphores. */
void sem_names(const char *name, char *free_name, char *full_name, size_t size);
/* sem_clockwait() for SLICE_MS: 0 taken, 1 timed out, 2 interrupted, -1 error. */
int sem_wait_slice(sem_t *s);
/* 1 if pid is known to be gone (kill() says ESRCH), 0 otherwise. */
int pid_gone(int32_t pid);
/* Sleeps ms milliseconds (a signal ends it early). */
void pause_ms(long ms);
/* Exit status for a program ending on a signal or an error. */
int fail_status(void);

#define LOAD(p)     __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

#endif
