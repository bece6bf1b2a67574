/* server SOCKET_PATH: sums rounds of integers sent over a UNIX domain stream socket.
 *
 * Each line from a client is a decimal integer. A zero ends the round: the server
 * replies "SUM <total>\n" and starts a new round. Any other line gets "ERROR\n".
 * Clients are served one at a time. SIGINT/SIGTERM: close, remove the socket, exit 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_LINE 4096 /* longest line handled, "\r\n" not counted; longer ones get ERROR */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Writes all n bytes, resuming after partial writes. Returns 0, or -1 on error. */
static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w == -1) {
            if (errno == EINTR && !stop)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* perror(call), unless errno only says that the client left or that we must stop. */
static void report(const char *call)
{
    if (errno != EPIPE && errno != ECONNRESET && errno != EINTR)
        perror(call);
}

/* Parses s[0..len), followed by a '\0', as an optional sign and digits that fit in
 * a long long. A '\0' inside the line makes it invalid. */
static bool parse_value(const char *s, size_t len, long long *value)
{
    if (len > 0 && s[len - 1] == '\r')
        len--;
    if (len == 0 || !(s[0] == '+' || s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
        return false; /* strtoll would skip leading spaces; we do not */
    char *end;
    errno = 0;
    *value = strtoll(s, &end, 10);
    return errno == 0 && end != s && end == s + len;
}

/* Handles one line (its '\n' replaced by '\0'); returns -1 if the reply failed. */
static int handle_line(int fd, const char *line, size_t len, long long *total)
{
    long long value;
    if (!parse_value(line, len, &value))
        return write_all(fd, "ERROR\n", 6);
    if (value != 0) {
        *total += value; /* the handout promises that totals fit in 64 bits */
        return 0;
    }
    char reply[32];
    int n = snprintf(reply, sizeof reply, "SUM %lld\n", *total);
    *total = 0;
    return write_all(fd, reply, (size_t)n);
}

/* Serves one client until it closes its side, an error, or a signal. */
static void serve(int fd)
{
    char buf[MAX_LINE + 3]; /* a line, "\r\n", and one byte to notice a longer line */
    size_t len = 0;         /* bytes of the current (incomplete) line in buf */
    bool too_long = false;  /* the current line overflowed buf: skip to its end */
    long long total = 0;

    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof buf - len);
        if (n == -1) {
            if (errno == EINTR && !stop)
                continue;
            report("read");
            return;
        }
        if (n == 0) { /* EOF: a last line without '\n' still counts */
            if (too_long)
                write_all(fd, "ERROR\n", 6);
            else if (len > 0) {
                buf[len] = '\0'; /* fits: a full buffer is never kept (below) */
                handle_line(fd, buf, len, &total);
            }
            return; /* an unfinished round is dropped */
        }
        size_t end = len + (size_t)n, start = 0;
        for (size_t i = len; i < end; i++) {
            if (buf[i] != '\n')
                continue;
            buf[i] = '\0';
            int r = too_long ? write_all(fd, "ERROR\n", 6)
                             : handle_line(fd, buf + start, i - start, &total);
            if (r == -1) {
                report("write");
                return;
            }
            too_long = false;
            start = i + 1;
        }
        len = end - start;
        memmove(buf, buf + start, len);
        if (len == sizeof buf) { /* no '\n' in a full buffer: drop the line's bytes */
            too_long = true;
            len = 0;
        }
    }
}

/* Makes room for the socket at path: removes a stale socket file (nobody listening),
 * refuses anything else. Returns 0 if the path is free, -1 after reporting why not. */
static int clear_path(const struct sockaddr_un *addr)
{
    struct stat st;
    if (lstat(addr->sun_path, &st) == -1) {
        if (errno == ENOENT)
            return 0;
        perror("lstat");
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        fprintf(stderr, "server: %s exists and is not a socket; not touching it\n", addr->sun_path);
        return -1;
    }
    int probe = socket(AF_UNIX, SOCK_STREAM, 0);
    if (probe == -1) {
        perror("socket");
        return -1;
    }
    int r = connect(probe, (const struct sockaddr *)addr, sizeof *addr);
    int err = errno;
    close(probe);
    if (r == 0) {
        fprintf(stderr, "server: a server is already listening at %s\n", addr->sun_path);
        return -1;
    }
    if (err != ECONNREFUSED) {
        errno = err;
        perror("connect");
        return -1;
    }
    if (unlink(addr->sun_path) == -1) { /* stale: its server is gone */
        perror("unlink");
        return -1;
    }
    return 0;
}

int main(int argc, char *argv[])
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s SOCKET_PATH\n", argv[0]);
        return 2;
    }
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(argv[1]) >= sizeof addr.sun_path) {
        fprintf(stderr, "server: socket path too long: %s\n", argv[1]);
        return 1;
    }
    strcpy(addr.sun_path, argv[1]);

    /* No SA_RESTART: a signal must interrupt a blocking accept() or read(). */
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) == -1 || sigaction(SIGTERM, &sa, NULL) == -1) {
        perror("sigaction");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN); /* a client that left gives EPIPE, not a fatal signal */

    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (lfd == -1) {
        perror("socket");
        return 1;
    }
    if (clear_path(&addr) == -1) {
        close(lfd);
        return 1;
    }
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) == -1) {
        perror("bind");
        close(lfd);
        return 1;
    }
    int status = 0;
    if (listen(lfd, 16) == -1) {
        perror("listen");
        status = 1;
    }
    /* A signal arriving just before accept() blocks is only seen at the next client;
     * ppoll() or a self-pipe would close that small window. */
    while (status == 0 && !stop) {
        int fd = accept(lfd, NULL, NULL);
        if (fd == -1) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            perror("accept");
            status = 1;
            break;
        }
        serve(fd);
        if (close(fd) == -1)
            perror("close");
    }
    close(lfd);
    if (unlink(addr.sun_path) == -1)
        perror("unlink");
    return status;
}
