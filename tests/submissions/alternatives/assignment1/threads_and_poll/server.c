/* Sum server: one detached thread per client; the main thread poll()s the
 * listening socket and a signalfd for SIGTERM/SIGINT; strtoll() parsing. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_LEN 4100
#define MAX_CONNS 256

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gone = PTHREAD_COND_INITIALIZER;
static int conns[MAX_CONNS], nconns, stopping;

static int is_number(char *s, size_t n, long long *v)
{
    char *end;
    const char *p = s + (s[0] == '+' || s[0] == '-');

    if (*p < '0' || *p > '9')     /* strtoll would skip spaces and accept "+ " */
        return 0;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return errno == 0 && end == s + n;
}

static int reply(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0)
            return -1;           /* EPIPE etc.: SIGPIPE is ignored */
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static int on_line(int fd, char *line, size_t len, int toolong, long long *total)
{
    long long v;
    char out[48];

    if (len > 0 && line[len - 1] == '\r')
        len--;
    line[len] = '\0';
    if (toolong || !is_number(line, len, &v))
        return reply(fd, "ERROR\n");
    if (v != 0) {
        *total = (long long)((unsigned long long)*total + (unsigned long long)v);
        return 0;
    }
    snprintf(out, sizeof out, "SUM %lld\n", *total);
    *total = 0;
    return reply(fd, out);
}

static void *client_thread(void *arg)
{
    int fd = (int)(intptr_t)arg, ok = 1;
    char line[LINE_MAX_LEN + 1], in[4096];
    size_t len = 0;
    int toolong = 0;
    long long total = 0;
    ssize_t r;

    while (ok && (r = read(fd, in, sizeof in)) > 0) {
        char *p = in, *end = in + r;
        while (ok && p < end) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t chunk = (size_t)((nl ? nl : end) - p);
            if (toolong || len + chunk > LINE_MAX_LEN)
                toolong = 1;
            else
                memcpy(line + len, p, chunk), len += chunk;
            p += chunk;
            if (nl) {
                ok = on_line(fd, line, len, toolong, &total) == 0;
                len = 0, toolong = 0, p++;
            }
        }
    }
    pthread_mutex_lock(&mu);
    if (ok && r == 0 && (len > 0 || toolong) && !stopping)
        on_line(fd, line, len, toolong, &total);     /* last line without \n */
    for (int i = 0; i < nconns; i++)
        if (conns[i] == fd) {
            conns[i] = conns[--nconns];
            break;
        }
    close(fd);
    pthread_cond_signal(&gone);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void start_client(int fd, pthread_attr_t *attr)
{
    pthread_t t;
    int err;

    pthread_mutex_lock(&mu);
    if (nconns == MAX_CONNS) {
        pthread_mutex_unlock(&mu);
        fprintf(stderr, "server: too many clients\n");
        close(fd);
        return;
    }
    conns[nconns++] = fd;
    if ((err = pthread_create(&t, attr, client_thread, (void *)(intptr_t)fd)) != 0) {
        fprintf(stderr, "server: pthread_create: %s\n", strerror(err));
        conns[--nconns] = -1;
        close(fd);
    }
    pthread_mutex_unlock(&mu);
}

/* before socket(): refuse a non-socket, remove a socket nobody listens on */
static int check_path(const char *path, const struct sockaddr_un *addr)
{
    struct stat st;
    int probe, rc;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : (perror(path), -1);
    if (!S_ISSOCK(st.st_mode)) {
        fprintf(stderr, "server: %s: exists and is not a socket, not touching it\n", path);
        return -1;
    }
    if ((probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return perror("socket"), -1;
    rc = -1;
    if (connect(probe, (const struct sockaddr *)addr, sizeof *addr) == 0)
        fprintf(stderr, "server: %s: another server is listening there\n", path);
    else if (errno != ECONNREFUSED)
        perror("connect");
    else if (unlink(path) < 0)
        perror("unlink");
    else
        rc = 0;                                  /* stale socket removed */
    close(probe);
    return rc;
}

int main(int argc, char **argv)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    pthread_attr_t attr;
    sigset_t set;
    int sfd, lfd;

    if (argc != 2 || strlen(argv[1]) >= sizeof addr.sun_path) {
        fprintf(stderr, "usage: %s SOCKET_PATH (at most %zu bytes)\n", argv[0],
                sizeof addr.sun_path - 1);
        return 2;
    }
    strcpy(addr.sun_path, argv[1]);

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);   /* inherited by every thread */
    signal(SIGPIPE, SIG_IGN);
    if ((sfd = signalfd(-1, &set, SFD_CLOEXEC)) < 0) {
        perror("signalfd");
        return 1;
    }
    if (check_path(argv[1], &addr) < 0)
        return 1;
    if ((lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
        perror("socket");
        return 1;
    }
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("bind");
        return 1;
    }
    if (listen(lfd, 32) < 0) {
        perror("listen");
        unlink(argv[1]);
        return 1;
    }
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);

    for (;;) {
        struct pollfd pf[2] = { { .fd = lfd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("poll");
            break;
        }
        if (pf[1].revents)
            break;                                /* SIGTERM or SIGINT */
        if (pf[0].revents & POLLIN) {
            int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (c >= 0)
                start_client(c, &attr);
            else if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN) {
                perror("accept");
                nanosleep(&(struct timespec){ 0, 50000000 }, NULL);
            }
        }
    }

    close(lfd);
    unlink(argv[1]);
    pthread_mutex_lock(&mu);
    stopping = 1;
    for (int i = 0; i < nconns; i++)
        shutdown(conns[i], SHUT_RDWR);           /* wakes the threads' read() */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 2;
    while (nconns > 0 && pthread_cond_timedwait(&gone, &mu, &until) == 0)
        ;
    pthread_mutex_unlock(&mu);
    close(sfd);
    return 0;
}
