/* Sum server: one forked child per client; SIGTERM/SIGINT set a flag
 * (sigaction without SA_RESTART), SIGCHLD reaps children with WNOHANG. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXLINE 8192

static volatile sig_atomic_t stop;

static void on_stop(int sig) { (void)sig; stop = 1; }

static void on_chld(int sig)
{
    int saved = errno;
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    errno = saved;
}

/* optional sign, then digits only, within long long; digit by digit */
static int parse(const char *s, size_t n, long long *out)
{
    size_t i = 0;
    int neg = 0;
    unsigned long long mag = 0, lim;

    if (n > 0 && (s[0] == '+' || s[0] == '-'))
        neg = (s[i++] == '-');
    if (i == n)
        return 0;
    lim = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
    for (; i < n; i++) {
        unsigned d;
        if (s[i] < '0' || s[i] > '9')
            return 0;
        d = (unsigned)(s[i] - '0');
        if (mag > (lim - d) / 10)
            return 0;
        mag = mag * 10 + d;
    }
    *out = neg ? (long long)(0ULL - mag) : (long long)mag;
    return 1;
}

static int send_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR && !stop)
                continue;
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* one complete line; returns -1 if the client cannot be written to */
static int handle(int fd, char *line, size_t len, int toolong, long long *total)
{
    long long v;
    char out[48];
    int n;

    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (toolong || !parse(line, len, &v))
        return send_all(fd, "ERROR\n", 6);
    if (v != 0) {
        *total = (long long)((unsigned long long)*total + (unsigned long long)v);
        return 0;
    }
    n = snprintf(out, sizeof out, "SUM %lld\n", *total);
    *total = 0;
    return send_all(fd, out, (size_t)n);
}

static void serve(int fd)
{
    static char line[MAXLINE];
    char in[4096];
    size_t len = 0;
    int toolong = 0;
    long long total = 0;

    while (!stop) {
        ssize_t r = read(fd, in, sizeof in);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (r == 0) {               /* EOF: a last line without \n counts */
            if (len > 0 || toolong)
                handle(fd, line, len, toolong, &total);
            break;
        }
        for (ssize_t i = 0; i < r; i++) {
            if (in[i] == '\n') {
                if (handle(fd, line, len, toolong, &total) < 0)
                    return (void)close(fd);
                len = 0;
                toolong = 0;
            } else if (len < MAXLINE) {
                line[len++] = in[i];
            } else {
                toolong = 1;
            }
        }
    }
    close(fd);
}

/* bind() failed with EADDRINUSE: replace a stale socket, refuse anything else */
static void clear_stale(const char *path, const struct sockaddr_un *addr)
{
    struct stat st;
    int probe, saved = errno;

    if (lstat(path, &st) < 0) {
        errno = saved;
        perror("bind");
        exit(1);
    }
    if (!S_ISSOCK(st.st_mode)) {
        fprintf(stderr, "server: %s exists and is not a socket\n", path);
        exit(1);
    }
    if ((probe = socket(AF_UNIX, SOCK_STREAM, 0)) < 0) {
        perror("socket");
        exit(1);
    }
    if (connect(probe, (const struct sockaddr *)addr, sizeof *addr) == 0) {
        fprintf(stderr, "server: a server already listens on %s\n", path);
        exit(1);
    }
    if (errno != ECONNREFUSED) {
        perror("connect");
        exit(1);
    }
    close(probe);
    if (unlink(path) < 0) {
        perror("unlink");
        exit(1);
    }
}

int main(int argc, char **argv)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    struct sigaction sa;
    pid_t parent = getpid();
    int lfd;

    if (argc != 2) {
        fprintf(stderr, "usage: %s SOCKET_PATH\n", argv[0]);
        return 2;
    }
    if (strlen(argv[1]) >= sizeof addr.sun_path) {
        fprintf(stderr, "server: socket path too long\n");
        return 2;
    }
    strcpy(addr.sun_path, argv[1]);

    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;            /* no SA_RESTART: accept()/read() get EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_chld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sa.sa_flags = 0;
    sigaction(SIGPIPE, &sa, NULL);

    if ((lfd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0) {
        perror("socket");
        return 1;
    }
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        if (errno != EADDRINUSE) {
            perror("bind");
            return 1;
        }
        clear_stale(argv[1], &addr);
        if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0) {
            perror("bind");
            return 1;
        }
    }
    if (listen(lfd, 16) < 0) {
        perror("listen");
        unlink(argv[1]);
        return 1;
    }
    printf("listening on %s\n", argv[1]);
    fflush(stdout);

    while (!stop) {
        int c = accept(lfd, NULL, NULL);
        pid_t pid;
        if (c < 0) {
            int e = errno;
            if (e == EINTR || e == ECONNABORTED)
                continue;
            perror("accept");
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
                nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
            continue;
        }
        if ((pid = fork()) < 0) {
            perror("fork");
            close(c);
        } else if (pid == 0) {
            close(lfd);
            signal(SIGCHLD, SIG_DFL);
            prctl(PR_SET_PDEATHSIG, SIGTERM);   /* stop with the parent */
            if (getppid() != parent)
                stop = 1;
            serve(c);
            _exit(0);
        } else {
            close(c);
        }
    }
    close(lfd);
    unlink(argv[1]);
    return 0;
}
