/* Sample student submission for assignment1 (a fork-per-client design).
 * It has one bug the grader finds: it never removes a stale socket file before bind(). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig) { (void)sig; stop = 1; }

static int parse(char *line, long long *value)
{
    size_t n = strlen(line);
    if (n && line[n - 1] == '\n') line[--n] = 0;
    if (n && line[n - 1] == '\r') line[--n] = 0;
    char *p = line + (*line == '+' || *line == '-');
    if (!*p || strspn(p, "0123456789") != strlen(p)) return -1;
    errno = 0;
    *value = strtoll(line, NULL, 10);
    return errno ? -1 : 0;
}

static void serve(int fd)
{
    FILE *in = fdopen(fd, "r"), *out = fdopen(dup(fd), "w");
    char *line = NULL;
    size_t cap = 0;
    long long total = 0, v;
    while (getline(&line, &cap, in) > 0) {
        if (parse(line, &v) < 0) fputs("ERROR\n", out);
        else if (v == 0) { fprintf(out, "SUM %lld\n", total); total = 0; }
        else total += v;
        fflush(out);
    }
    free(line);
    fclose(in);
    fclose(out);
}

int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: %s SOCKET_PATH\n", argv[0]); return 1; }
    struct stat st;
    if (lstat(argv[1], &st) == 0 && !S_ISSOCK(st.st_mode)) {
        fprintf(stderr, "%s exists and is not a socket\n", argv[1]);
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_term};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGCHLD, SIG_IGN);  /* children are reaped by the kernel */
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (lfd < 0) { perror("socket"); return 1; }
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0) { perror("bind"); return 1; }
    if (listen(lfd, 16) < 0) { perror("listen"); return 1; }

    while (!stop) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR) continue;
            perror("accept");
            break;
        }
        pid_t pid = fork();
        if (pid == 0) { close(lfd); serve(fd); _exit(0); }
        if (pid < 0) perror("fork");
        close(fd);
    }
    close(lfd);
    unlink(argv[1]);
    return 0;
}
