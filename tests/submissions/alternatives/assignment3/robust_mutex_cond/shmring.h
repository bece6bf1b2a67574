/* robust_mutex_cond: a byte ring in one 64 KiB segment, guarded by a robust
 * process-shared mutex with two condition variables. */
#ifndef SHMRING_H
#define SHMRING_H
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SEG_SIZE  65536u
#define HDR_SIZE  4096u
#define RING_SIZE (SEG_SIZE - HDR_SIZE)   /* 61,440 bytes of data */
#define MAX_CHUNK 16384u                  /* one read()/write() at most */
#define SEG_MAGIC 0x524d4333u             /* "3CMR" */
#define SLICE_MS  250
#define RETRY_MS  20

struct ctl {
    uint32_t magic;
    uint32_t ready;            /* stored last by the writer (release) */
    int32_t  writer_pid;       /* for messages only: liveness is wlive/rlive */
    int32_t  reader_pid;
    uint32_t attached;         /* the reader holds rlive and unlinked NAME */
    uint32_t eof;              /* writer: every byte is in, wpos is final */
    uint32_t wabort;           /* writer gave up: the stream is incomplete */
    uint32_t rabort;           /* reader gave up */
    uint64_t wpos, rpos;       /* bytes written / read so far, under m */
    pthread_mutex_t m;         /* robust, shared: guards wpos and rpos */
    pthread_cond_t not_empty;  /* the reader waits here */
    pthread_cond_t not_full;   /* the writer waits here */
    pthread_mutex_t wlive;     /* robust, held by the writer for its life */
    pthread_mutex_t rlive;     /* robust, held by the reader for its life */
};

struct seg {
    union { struct ctl c; unsigned char pad[HDR_SIZE]; } h;
    unsigned char ring[RING_SIZE];
};

_Static_assert(sizeof(struct seg) == SEG_SIZE, "segment must be 64 KiB");

extern volatile sig_atomic_t got_signal;

void check_args(const char *prog, int argc, char **argv);
void setup_signals(void);
/* Initialises the mutexes and condition variables of a new segment. */
int init_sync(struct ctl *c);
/* 1 if the process that holds *live for its life has ended (the kernel has
 * marked the robust mutex owner-dead), 0 while it lives. */
int holder_gone(pthread_mutex_t *live);
/* Locks c->m: 0; -1 when its owner died holding it (made consistent) or on
 * an error; -2 when a signal came while it waited. */
int lock_ring(struct ctl *c);
/* pthread_cond_timedwait for SLICE_MS: 0, ETIMEDOUT, or EOWNERDEAD. */
int wait_slice(pthread_cond_t *cv, struct ctl *c);
void pause_ms(long ms);
int fail_status(void);

#define LOAD(p)     __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

#endif
