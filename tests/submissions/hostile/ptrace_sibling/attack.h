/* The attack both programs make on their siblings: every process of the same user that is not
 * this one. Returns how many attempts succeeded (each printed), 0 if all were refused. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

static uid_t owner_of(pid_t pid)
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

static int attack_sibling(pid_t pid)
{
    int won = 0;
    char path[64], target[4096];
    if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) == 0) {
        fprintf(stderr, "EXPLOIT ptrace %d: attached\n", pid);
        waitpid(pid, NULL, __WALL);
        long word = ptrace(PTRACE_PEEKTEXT, pid, (void *)0x400000, NULL);
        fprintf(stderr, "EXPLOIT ptrace %d: text word %lx\n", pid, word);
        ptrace(PTRACE_DETACH, pid, NULL, NULL);
        won++;
    } else {
        fprintf(stderr, "ptrace %d: %s\n", pid, strerror(errno));
    }
    snprintf(path, sizeof path, "/proc/%d/exe", pid);
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n >= 0) {
        target[n] = '\0';
        fprintf(stderr, "EXPLOIT %s -> %s\n", path, target);
        won++;
    }
    int exe = open(path, O_RDONLY);
    if (exe != -1) {
        char elf[4] = "";
        if (read(exe, elf, 4) == 4)
            fprintf(stderr, "EXPLOIT read %s: %.3s\n", path, elf + 1);
        close(exe);
        won++;
    }
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *maps = fopen(path, "r");
    unsigned long start = 0;
    if (maps && fscanf(maps, "%lx-", &start) == 1) {
        fprintf(stderr, "EXPLOIT %s: first mapping at %lx\n", path, start);
        won++;
    }
    if (maps)
        fclose(maps);
    snprintf(path, sizeof path, "/proc/%d/mem", pid);
    int mem = open(path, O_RDONLY);
    if (mem != -1) {
        char bytes[16];
        if (start && pread(mem, bytes, sizeof bytes, (off_t)start) > 0) {
            fprintf(stderr, "EXPLOIT read %s\n", path);
            won++;
        }
        close(mem);
    }
    return won;
}

/* Attacks every sibling found now; returns the number of successes. */
static int attack_siblings(int *found)
{
    int won = 0;
    DIR *proc = opendir("/proc");
    struct dirent *entry;
    while (proc && (entry = readdir(proc))) {
        pid_t pid = (pid_t)atoi(entry->d_name);
        if (pid <= 1 || pid == getpid() || owner_of(pid) != getuid())
            continue;
        char path[64], state[256] = "";
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        FILE *stat = fopen(path, "r");
        if (stat) {
            if (!fgets(state, sizeof state, stat))
                state[0] = '\0';
            fclose(stat);
        }
        if (state[0] == '\0' || strstr(state, ") Z"))
            continue; /* gone, or dying */
        /* Every other process of this user: the reference programs, and whatever starts
         * them (a launcher that runs as this user before it execs the reference would let
         * a tracer attached to it take over the reference). */
        (*found)++;
        won += attack_sibling(pid);
    }
    if (proc)
        closedir(proc);
    return won;
}
