#ifndef COMMON_H
#define COMMON_H
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
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
#define DATA_OFF 64
#define MAGIC 0x464c4147u
#define POLL_US 1000
#define CHECK_EVERY 250   /* polls between liveness checks (~0.25 s) */

/* Byte ring with atomic counters; each side polls the other's counter. */
struct ctl {
    _Atomic uint32_t ready;
    pid_t writer_pid;
    _Atomic int32_t reader_pid;
    _Atomic int32_t eof;
    _Atomic int32_t reader_failed;
    uint32_t cap;
    _Atomic uint64_t head;
    _Atomic uint64_t tail;
};
_Static_assert(sizeof(struct ctl) <= DATA_OFF, "ctl too big");

extern volatile sig_atomic_t g_stop;
const char *check_args(int argc, char **argv, const char *prog);
void install_handlers(void);
#endif
