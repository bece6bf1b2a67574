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
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SEG_SIZE 65536
#define MAGIC 0x46494630u
#define CHUNK 65536

struct ctl {
    _Atomic uint32_t ready;
    _Atomic int32_t writer_pid;
    _Atomic int32_t reader_pid;
    _Atomic int32_t done;
};

extern volatile sig_atomic_t g_stop;
const char *check_args(int argc, char **argv, const char *prog);
void install_handlers(void);
void fifo_path(char *buf, size_t sz, const char *name);
#endif
