/*
 * shm_pipe.c - the helpers the writer and the reader share (see shm_pipe.h).
 */
#define _GNU_SOURCE /* sem_clockwait() */
#include "shm_pipe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

volatile sig_atomic_t stop_signal = 0;

static void usage(const char *program, const char *why)
{
    fprintf(stderr, "usage: %s NAME   (NAME: \"/\" then 1 to %d characters, no other \"/\", "
                    "e.g. /hw3-4711)\n%s: %s\n",
            program, NAME_MAX_CHARS - 1, program, why);
    exit(1);
}

const char *parse_arguments(int argc, char **argv, const char *program)
{
    if (argc < 2)
        usage(program, "NAME is missing");
    if (argc > 2)
        usage(program, "too many arguments");
    const char *name = argv[1];
    size_t length = strlen(name);
    if (name[0] != '/')
        usage(program, "NAME must start with \"/\"");
    if (length < 2)
        usage(program, "NAME needs at least one character after the \"/\"");
    if (length > NAME_MAX_CHARS)
        usage(program, "NAME is longer than 100 characters");
    if (strchr(name + 1, '/') != NULL)
        usage(program, "NAME may hold only one \"/\", at its start");
    if (strcmp(name, "/.") == 0 || strcmp(name, "/..") == 0)
        usage(program, "NAME cannot be \"/.\" or \"/..\"");
    return name;
}

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

void install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: sem_clockwait(), poll() and read() return EINTR */
    if (sigaction(SIGINT, &sa, NULL) == -1 || sigaction(SIGTERM, &sa, NULL) == -1) {
        perror("sigaction");
        exit(1);
    }
    signal(SIGPIPE, SIG_IGN);
}

bool process_alive(pid_t pid)
{
    if (pid <= 0) /* never kill(0, ...) or kill(-1, ...): those mean process groups */
        return false;
    return kill(pid, 0) == 0 || errno == EPERM;
}

bool partner_gone(struct shm_pipe *seg, enum role me)
{
    if (me == WRITER) {
        pid_t reader = atomic_load(&seg->reader_pid);
        if (reader == 0)
            return false; /* no reader yet: a writer waits for one as long as it takes */
        return atomic_load(&seg->reader_state) == READER_ABORTED || !process_alive(reader);
    }
    int state = atomic_load(&seg->writer_state);
    if (state == WRITER_ABORTED)
        return true;
    if (state == WRITER_FINISHED)
        return false; /* it may have exited: the end mark is in the ring */
    return !process_alive(atomic_load(&seg->writer_pid));
}

enum wait_result wait_for_slot(struct shm_pipe *seg, sem_t *sem, enum role me)
{
    for (;;) {
        if (stop_signal)
            return WAIT_SIGNAL;
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_nsec += WAIT_SLICE_MS * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec += 1;
            deadline.tv_nsec -= 1000000000L;
        }
        /* Blocks in futex() until the partner posts, a signal arrives, or the slice ends. */
        if (sem_clockwait(sem, CLOCK_MONOTONIC, &deadline) == 0)
            return WAIT_OK;
        if (errno == EINTR)
            continue;
        if (errno != ETIMEDOUT)
            return WAIT_ERROR;
        if (partner_gone(seg, me)) {
            /* A writer may post its last slots, or the end mark, and exit between our
             * timeout and our look at it: take what it left before calling it dead. */
            if (me == READER && sem_trywait(sem) == 0)
                return WAIT_OK;
            return WAIT_PARTNER_GONE;
        }
    }
}

void release_name(struct shm_pipe *seg, const char *name)
{
    if (seg == NULL || atomic_exchange(&seg->name_released, 1) != 0)
        return;
    if (shm_unlink(name) == -1 && errno != ENOENT)
        perror("shm_unlink");
}

int signal_status(void)
{
    return 128 + stop_signal;
}
