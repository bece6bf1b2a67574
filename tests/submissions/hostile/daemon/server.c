/* Hostile server: the reference server, plus a daemon it starts before main().
 * The daemon leaves the process group and the session (fork, setsid, fork again), detaches
 * its stdio like daemon(3), ignores the polite signals and sleeps forever: only the
 * sandbox's per-user kill reaches it. */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reference_server.inc"

__attribute__((constructor)) static void start_daemon(void)
{
    pid_t child = fork();
    if (child == -1)
        return;
    if (child > 0) {
        waitpid(child, NULL, 0); /* the first child exits at once: the daemon is orphaned */
        return;
    }
    if (setsid() == -1 || fork() != 0)
        _exit(0);
    int null = open("/dev/null", O_RDWR);
    if (null != -1) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
    }
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    for (;;)
        pause();
}
