/* futex_counters: one source for both programs.  The Makefile builds it with
 * -DROLE_WRITER into writer and with -DROLE_READER into reader. */
#include "shmfutex.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(ROLE_WRITER) == defined(ROLE_READER)
#error "build with -DROLE_WRITER or -DROLE_READER"
#endif

/* ---------------------------------------------------------------- shared */

volatile sig_atomic_t got_signal;

static void on_signal(int sig) { got_signal = sig; }

void check_args(const char *prog, int argc, char **argv)
{
    const char *why = NULL;
    if (argc != 2)
        why = argc < 2 ? "NAME is missing" : "exactly one argument, please";
    else {
        const char *n = argv[1];
        size_t len = strlen(n);
        if (n[0] != '/')
            why = "NAME does not start with /";
        else if (len == 1)
            why = "NAME is just /";
        else if (len > 100)
            why = "NAME is longer than 100 characters";
        else if (strchr(n + 1, '/'))
            why = "NAME holds a second /";
        else if (!strcmp(n, "/.") || !strcmp(n, "/.."))
            why = "NAME is /. or /..";
    }
    if (!why)
        return;
    fprintf(stderr, "usage: %s NAME   (NAME: \"/\" then 1 to 99 characters "
            "without \"/\", e.g. /hw3-4711)\n%s: %s\n", prog, prog, why);
    exit(1);
}

void setup_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;         /* no SA_RESTART: futex() says EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

int futex_wait_slice(uint32_t *word, uint32_t val)
{
    struct timespec rel = { SLICE_MS / 1000, (SLICE_MS % 1000) * 1000000L };
    /* not FUTEX_PRIVATE_FLAG: the word is shared between two processes */
    if (syscall(SYS_futex, word, FUTEX_WAIT, val, &rel, NULL, 0) == 0)
        return 0;
    if (errno == ETIMEDOUT)
        return 1;
    if (errno == EINTR)
        return 2;
    return 0;                          /* EAGAIN: the word had changed */
}

void futex_wake(uint32_t *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

int hold_byte(int fd, int byte)
{
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
                        .l_start = byte, .l_len = 1 };
    return fcntl(fd, F_OFD_SETLK, &fl);
}

int byte_held(int fd, int byte)
{
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
                        .l_start = byte, .l_len = 1 };
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
        return 1;                      /* cannot tell: do not declare death */
    return fl.l_type != F_UNLCK;
}

void pause_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

int fail_status(void)
{
    return got_signal ? 128 + got_signal : 1;
}

static const char *name;
static struct seg *seg;
static int seg_fd = -1;        /* stays open: it carries our OFD lock */

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

#ifdef ROLE_WRITER
/* ---------------------------------------------------------------- writer */

static sigset_t wait_mask;     /* mask inside ppoll(): SIGINT/SIGTERM open */

static void die(const char *why)
{
    if (why && !got_signal)
        fprintf(stderr, "writer: %s\n", why);
    if (seg) {
        struct ctl *c = &seg->h.c;
        STORE_SC(&c->wabort, 1);
        __atomic_fetch_or(&c->wpos, EOF_BIT, __ATOMIC_SEQ_CST);
        futex_wake(&c->wpos);  /* the word changed: no wake-up is lost */
    }
    /* ENOENT if the reader removed it; one pair per NAME: it is ours */
    shm_unlink(name);
    exit(fail_status());
}

static int reader_gone(void)
{
    struct ctl *c = &seg->h.c;
    return LOAD(&c->attached) && !byte_held(seg_fd, READER_LOCK_BYTE);
}

static void create_segment(void)
{
    int fd = -1;
    for (int tries = 0; fd < 0 && tries < 10; tries++) {
        shm_unlink(name);              /* anything at NAME is left over */
        fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        perror("writer: shm_open");
        die(NULL);
    }
    if (ftruncate(fd, SEG_SIZE) < 0 || hold_byte(fd, WRITER_LOCK_BYTE) < 0) {
        perror("writer: ftruncate/lock");
        die(NULL);
    }
    void *p = mmap(NULL, SEG_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        perror("writer: mmap");
        die(NULL);
    }
    seg = p;
    seg_fd = fd;
    struct ctl *c = &seg->h.c;         /* a new object is all zeros */
    c->magic = SEG_MAGIC;
    c->writer_pid = (int32_t)getpid();
    STORE_SC(&c->ready, 1);
}

/* Waits until the reader's position satisfies done(rpos, w); returns it. */
static uint32_t wait_reader(int (*done)(uint32_t, uint32_t), uint32_t w)
{
    struct ctl *c = &seg->h.c;
    for (;;) {
        uint32_t rv = LOAD_SC(&c->rpos);
        if (rv & GONE_BIT)
            die("the reader has given up");
        if (done(rv, w))
            return rv;
        if (got_signal)
            die(NULL);
        /* announce the sleep, then look again (pairs with the reader's
         * store of rpos followed by its load of wsleep) */
        STORE_SC(&c->wsleep, 1);
        int r = 0;
        if (LOAD_SC(&c->rpos) == rv)
            r = futex_wait_slice(&c->rpos, rv);
        STORE(&c->wsleep, 0);
        if (r == 1 && reader_gone()) {
            rv = LOAD_SC(&c->rpos);    /* one more look */
            if (!(rv & GONE_BIT) && done(rv, w))
                return rv;
            die("the reader has gone");
        }
    }
}

static int has_room(uint32_t rv, uint32_t w)
{
    return ((w - rv) & POS_MASK) < RING_SIZE;
}

static int drained(uint32_t rv, uint32_t w)
{
    return (rv & POS_MASK) == w;
}

/* One read() into buf once stdin is readable; SIGINT/SIGTERM are open only
 * inside ppoll(), so none is missed and an idle writer never wakes up. */
static ssize_t read_input(void *buf, size_t n)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    for (;;) {
        sigprocmask(SIG_BLOCK, &block, &old);
        if (got_signal)
            die(NULL);
        struct pollfd p = { .fd = 0, .events = POLLIN };
        int r = ppoll(&p, 1, NULL, &wait_mask);
        int err = errno;
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (r < 0) {
            if (err == EINTR)
                continue;
            errno = err;
            perror("writer: ppoll");
            die(NULL);
        }
        ssize_t k = read(0, buf, n);
        if (k >= 0)
            return k;
        if (errno != EINTR && errno != EAGAIN) {
            perror("writer: read");
            die(NULL);
        }
    }
}

static void publish(uint32_t val)
{
    struct ctl *c = &seg->h.c;
    STORE_SC(&c->wpos, val);
    if (LOAD_SC(&c->rsleep))
        futex_wake(&c->wpos);
}

int main(int argc, char **argv)
{
    check_args("writer", argc, argv);
    name = argv[1];
    setup_signals();
    sigprocmask(SIG_SETMASK, NULL, &wait_mask);
    sigdelset(&wait_mask, SIGINT);
    sigdelset(&wait_mask, SIGTERM);
    create_segment();

    uint32_t w = 0;
    for (;;) {
        uint32_t rv = wait_reader(has_room, w);
        size_t used = (w - rv) & POS_MASK;
        size_t off = w & (RING_SIZE - 1);
        size_t n = min3(RING_SIZE - used, RING_SIZE - off, MAX_CHUNK);
        ssize_t k = read_input(seg->ring + off, n);
        if (k == 0)
            break;
        w = (w + (uint32_t)k) & POS_MASK;
        publish(w);
    }
    publish(w | EOF_BIT);
    /* stay until the reader has taken every byte (or has gone) */
    wait_reader(drained, w);
    return 0;
}

#else
/* ---------------------------------------------------------------- reader */

static void die(const char *why)
{
    if (why && !got_signal)
        fprintf(stderr, "reader: %s\n", why);
    if (seg) {
        __atomic_fetch_or(&seg->h.c.rpos, GONE_BIT, __ATOMIC_SEQ_CST);
        futex_wake(&seg->h.c.rpos);
    }
    exit(fail_status());
}

static int try_attach(void)
{
    int fd = shm_open(name, O_RDWR, 0);
    if (fd < 0)
        return 0;
    struct stat st;
    void *p = MAP_FAILED;
    if (fstat(fd, &st) == 0 && st.st_size == SEG_SIZE)
        p = mmap(NULL, SEG_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        close(fd);
        return 0;
    }
    struct ctl *c = &((struct seg *)p)->h.c;
    int ok = LOAD_SC(&c->ready) && c->magic == SEG_MAGIC && !LOAD(&c->attached);
    if (ok) {
        /* a live writer holds its byte; a dead one counts only if it
         * finished (EOF without wabort) */
        int alive = byte_held(fd, WRITER_LOCK_BYTE);
        uint32_t wv = LOAD_SC(&c->wpos);
        ok = alive || ((wv & EOF_BIT) && !LOAD_SC(&c->wabort));
    }
    if (ok)
        ok = hold_byte(fd, READER_LOCK_BYTE) == 0;
    if (!ok) {
        munmap(p, SEG_SIZE);
        close(fd);                     /* drops any lock taken on this fd */
        return 0;
    }
    seg = p;
    seg_fd = fd;
    STORE(&c->reader_pid, (int32_t)getpid());
    STORE_SC(&c->attached, 1);     /* we hold our byte: the writer may look */
    shm_unlink(name);
    return 1;
}

static size_t write_some(const unsigned char *buf, size_t n)
{
    for (;;) {
        ssize_t k = write(1, buf, n);
        if (k > 0)
            return (size_t)k;
        if (k < 0 && (errno == EINTR || errno == EAGAIN)) {
            if (got_signal)
                die(NULL);
            if (errno == EAGAIN) {
                struct pollfd p = { .fd = 1, .events = POLLOUT };
                poll(&p, 1, SLICE_MS);
            }
            continue;
        }
        perror("reader: write to stdout");
        die(NULL);
    }
}

/* Waits until wpos differs from our position r or carries EOF_BIT. */
static uint32_t wait_writer(uint32_t r)
{
    struct ctl *c = &seg->h.c;
    for (;;) {
        uint32_t wv = LOAD_SC(&c->wpos);
        if ((wv & POS_MASK) != r || (wv & EOF_BIT))
            return wv;
        if (got_signal)
            die(NULL);
        STORE_SC(&c->rsleep, 1);
        int res = 0;
        if (LOAD_SC(&c->wpos) == wv)
            res = futex_wait_slice(&c->wpos, wv);
        STORE(&c->rsleep, 0);
        if (res == 1 && !byte_held(seg_fd, WRITER_LOCK_BYTE)
            && LOAD_SC(&c->wpos) == wv)          /* the one more look */
            die("the writer died before the end of the stream");
    }
}

int main(int argc, char **argv)
{
    check_args("reader", argc, argv);
    name = argv[1];
    setup_signals();

    while (!try_attach()) {
        if (got_signal)
            exit(128 + got_signal);
        pause_ms(RETRY_MS);
        if (got_signal)
            exit(128 + got_signal);
    }

    struct ctl *c = &seg->h.c;
    uint32_t r = 0;
    for (;;) {
        uint32_t wv = wait_writer(r);
        uint32_t w = wv & POS_MASK;
        if (w == r) {                  /* EOF_BIT and nothing left */
            if (LOAD_SC(&c->wabort))
                die("the writer gave up before the end of the stream");
            return 0;
        }
        size_t off = r & (RING_SIZE - 1);
        size_t n = min3((w - r) & POS_MASK, RING_SIZE - off, MAX_CHUNK * 2);
        size_t k = write_some(seg->ring + off, n);
        r = (r + (uint32_t)k) & POS_MASK;
        STORE_SC(&c->rpos, r);
        if (LOAD_SC(&c->wsleep))
            futex_wake(&c->rpos);
    }
}
#endif
