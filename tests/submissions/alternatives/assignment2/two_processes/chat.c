/* chat: fork()ed child receives and prints; the parent reads stdin (read()) and sends. */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *own_name;
static volatile sig_atomic_t own_open, child_done;
static volatile pid_t child = -1;

static void stop_child(void)
{
    if (child > 0) {
        kill(child, SIGKILL);
        while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
            ;
    }
}

static void die(const char *call)   /* parent only */
{
    perror(call);
    stop_child();
    if (own_open)
        mq_unlink(own_name);
    _exit(1);
}

static void on_term(int sig)
{
    (void)sig;
    stop_child();
    mq_unlink(own_name);
    _exit(0);
}

static void on_child(int sig)
{
    (void)sig;
    int e = errno, st;
    if (child > 0 && waitpid(child, &st, WNOHANG) == child) {
        child = -1;
        if (WIFSIGNALED(st) && (WTERMSIG(st) == SIGINT || WTERMSIG(st) == SIGTERM))
            on_term(WTERMSIG(st));   /* Ctrl-C reached the whole process group */
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {   /* receiver failed */
            static const char msg[] = "chat: receiving process failed\n";
            write(STDERR_FILENO, msg, sizeof msg - 1);
            mq_unlink(own_name);
            _exit(1);
        }
        child_done = 1;
    }
    errno = e;
}

static void receive_loop(mqd_t q, pid_t parent)
{
    struct mq_attr attr;
    if (mq_getattr(q, &attr) < 0) {
        perror("mq_getattr");
        _exit(1);
    }
    char *buf = malloc((size_t)attr.mq_msgsize + 1);
    if (!buf)
        _exit(1);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    for (;;) {
        ssize_t n = mq_receive(q, buf, (size_t)attr.mq_msgsize, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("mq_receive");
            _exit(1);
        }
        if (n == 4 && memcmp(buf, "/bye", 4) == 0)
            _exit(0);
        buf[n] = '\n';
        for (char *p = buf; p < buf + n + 1;) {
            ssize_t w = write(STDOUT_FILENO, p, (size_t)(buf + n + 1 - p));
            if (w < 0 && errno != EINTR) {
                perror("write");
                _exit(1);
            }
            if (w > 0)
                p += w;
        }
    }
}

static void send_msg(mqd_t q, const char *p, size_t n)
{
    unsigned prio = 0;
    if (n > 0 && p[0] == '!') {
        p++, n--;
        prio = 10;
    }
    while (mq_send(q, p, n, prio) < 0)
        if (errno != EINTR)
            die("mq_send");
}

int main(int argc, char **argv)
{
    if (argc != 3 || argv[1][0] != '/' || argv[2][0] != '/') {
        fprintf(stderr, "usage: %s OWN_QUEUE PEER_QUEUE\n", argc > 0 ? argv[0] : "chat");
        return 1;
    }
    own_name = argv[1];

    struct sigaction sa = { .sa_handler = on_term };
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGCHLD);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct mq_attr attr = { .mq_maxmsg = 10, .mq_msgsize = 1024 };
    mqd_t own = mq_open(own_name, O_RDONLY | O_CREAT, 0600, &attr);
    if (own == (mqd_t)-1)
        die("mq_open");
    own_open = 1;

    mqd_t peer;
    struct timespec t0, t, nap = { 0, 20 * 1000 * 1000 };
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while ((peer = mq_open(argv[2], O_WRONLY)) == (mqd_t)-1) {
        if (errno != ENOENT)
            die("mq_open");
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >= 10000) {
            fprintf(stderr, "chat: no queue %s after 10 seconds\n", argv[2]);
            die("mq_open (peer queue)");
        }
        nanosleep(&nap, NULL);
    }

    /* SIGCHLD handler (with SA_RESTART so read() and mq_send() resume) before the fork */
    struct sigaction sc = { .sa_handler = on_child, .sa_flags = SA_RESTART | SA_NOCLDSTOP };
    sigfillset(&sc.sa_mask);
    sigaction(SIGCHLD, &sc, NULL);

    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);   /* no handler may run before child is set */
    pid_t parent = getpid(), pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        mq_close(peer);
        receive_loop(own, parent);
    }
    child = pid;
    sigprocmask(SIG_SETMASK, &old, NULL);

    /* parent: split stdin into lines with read() */
    static char buf[2 * 8192 + 2];
    size_t have = 0;
    for (;;) {
        char *nl = memchr(buf, '\n', have);
        if (nl) {
            send_msg(peer, buf, (size_t)(nl - buf));
            have -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, have);
            continue;
        }
        if (have == sizeof buf) {   /* over-long line: send what we have */
            send_msg(peer, buf, have);
            have = 0;
        }
        ssize_t r = read(STDIN_FILENO, buf + have, sizeof buf - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            die("read");
        if (r == 0)
            break;
        have += (size_t)r;
    }
    if (have > 0)   /* last line without newline */
        send_msg(peer, buf, have);
    send_msg(peer, "/bye", 4);

    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &old);
    while (!child_done)
        sigsuspend(&old);   /* the child exits 0 when the peer's /bye arrived */
    sigprocmask(SIG_SETMASK, &old, NULL);

    mq_close(peer);
    mq_close(own);
    if (mq_unlink(own_name) < 0) {
        perror("mq_unlink");
        return 1;
    }
    return 0;
}
