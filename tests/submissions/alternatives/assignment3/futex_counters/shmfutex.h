/* futex_counters: layout of the segment and helpers shared by both roles. */
#ifndef SHMFUTEX_H
#define SHMFUTEX_H
#define _GNU_SOURCE
#include <signal.h>
#include <stdalign.h>
#include <stdint.h>
#include <sys/types.h>

#define HDR_SIZE  4096u
#define RING_SIZE 32768u                  /* a power of two dividing 2^31 */
#define SEG_SIZE  (HDR_SIZE + RING_SIZE)  /* 36,864 bytes: under 64 KiB */
#define MAX_CHUNK 8192u
#define POS_MASK  0x7fffffffu             /* positions count bytes mod 2^31 */
#define EOF_BIT   0x80000000u             /* in wpos: the writer is done */
#define GONE_BIT  0x80000000u             /* in rpos: the reader gave up */
#define SEG_MAGIC 0x58544655u             /* "UFTX" */
#define SLICE_MS  250
#define RETRY_MS  20
#define WRITER_LOCK_BYTE 0                /* OFD write locks held for life */
#define READER_LOCK_BYTE 1

struct ctl {
    uint32_t magic;
    uint32_t ready;            /* stored last by the writer */
    int32_t  writer_pid;       /* for messages: liveness is the OFD locks */
    int32_t  reader_pid;
    uint32_t attached;         /* reader holds its lock and unlinked NAME */
    uint32_t wabort;           /* stored before EOF_BIT when the writer gives up */
    /* written by the writer */
    alignas(64) uint32_t wpos; /* futex word: bytes written | EOF_BIT */
    uint32_t wsleep;           /* the writer sleeps (or is about to) on rpos */
    /* written by the reader */
    alignas(64) uint32_t rpos; /* futex word: bytes read | GONE_BIT */
    uint32_t rsleep;           /* the reader sleeps (or is about to) on wpos */
};

struct seg {
    union { struct ctl c; unsigned char pad[HDR_SIZE]; } h;
    unsigned char ring[RING_SIZE];
};

_Static_assert(sizeof(struct seg) == SEG_SIZE, "layout");
_Static_assert(SEG_SIZE <= 65536, "64 KiB bound");

extern volatile sig_atomic_t got_signal;

void check_args(const char *prog, int argc, char **argv);
void setup_signals(void);
/* FUTEX_WAIT on a shared word while it holds val, at most SLICE_MS:
 * 0 woken (or the word had changed), 1 timed out, 2 interrupted. */
int futex_wait_slice(uint32_t *word, uint32_t val);
void futex_wake(uint32_t *word);
/* OFD write lock on one byte of fd, held until the process ends: 0 or -1. */
int hold_byte(int fd, int byte);
/* 1 while some other open file description holds a lock on that byte. */
int byte_held(int fd, int byte);
void pause_ms(long ms);
int fail_status(void);

#define LOAD(p)        __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v)    __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define LOAD_SC(p)     __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE_SC(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)

#endif
