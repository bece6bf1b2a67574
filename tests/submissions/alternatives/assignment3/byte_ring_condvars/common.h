#ifndef COMMON_H
#define COMMON_H
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SEG_SIZE 65536
#define DATA_OFF 512
#define MAGIC 0x52494e47u
#define SLICE_NS 250000000L

/* Byte ring: head/tail are running totals, protected by a robust,
 * process-shared mutex; two process-shared condition variables. */
struct ctl {
    _Atomic uint32_t ready;
    pid_t writer_pid;
    pid_t reader_pid;
    int eof;
    int reader_failed;
    uint32_t cap;
    uint64_t head;
    uint64_t tail;
    pthread_mutex_t mu;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
};
_Static_assert(sizeof(struct ctl) <= DATA_OFF, "ctl too big");

extern volatile sig_atomic_t g_stop;

const char *check_args(int argc, char **argv, const char *prog);
void install_handlers(void);
struct timespec deadline(long ns);
/* returns 0 ok, 1 owner died (made consistent), -1 interrupted by stop */
int ctl_lock(struct ctl *c);
void ctl_unlock(struct ctl *c);
#endif
