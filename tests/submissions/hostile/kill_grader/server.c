/* Hostile server: tries to kill and ptrace every process that is not its own user's (the
 * grader), found in /proc, plus PID 1 and its parent; prints each outcome, then exits 1.
 * It refuses to run outside a sandbox user id (as root it would kill the machine). */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <unistd.h>

static int killed, refused;

static void attack(pid_t pid, const char *why)
{
    char path[64], name[64] = "?";
    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    FILE *comm = fopen(path, "r");
    if (comm) {
        if (fgets(name, sizeof name, comm))
            name[strcspn(name, "\n")] = '\0';
        fclose(comm);
    }
    if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) == 0) {
        printf("ptrace %d (%s, %s): attached\n", pid, name, why);
        ptrace(PTRACE_DETACH, pid, NULL, NULL);
    }
    if (kill(pid, SIGKILL) == 0) {
        printf("kill %d (%s, %s): killed\n", pid, name, why);
        killed++;
    } else {
        fprintf(stderr, "kill %d (%s, %s): %s\n", pid, name, why, strerror(errno));
        refused++;
    }
}

static uid_t owner(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *status = fopen(path, "r");
    uid_t uid = (uid_t)-1;
    while (status && fgets(line, sizeof line, status))
        if (sscanf(line, "Uid: %*u %u", &uid) == 1)
            break;
    if (status)
        fclose(status);
    return uid;
}

int main(void)
{
    uid_t me = getuid();
    if (!((me >= 62000 && me < 63000) || (me >= 70000 && me < 100000))) {
        fprintf(stderr, "kill_grader: refusing to run outside the sandbox\n");
        return 3;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    attack(1, "init");
    attack(getppid(), "parent");
    DIR *proc = opendir("/proc");
    struct dirent *entry;
    while (proc && (entry = readdir(proc))) {
        pid_t pid = (pid_t)atoi(entry->d_name);
        if (pid > 1 && pid != getpid() && pid != getppid() && owner(pid) != me)
            attack(pid, "grader");
    }
    printf("%d killed, %d refused\n", killed, refused);
    return 1;
}
