/* Hostile server: tries every way it knows to gain privileges, says how each went on stderr
 * ("ESCALATED: ..." for any that worked, "every attempt refused" at the end if none did),
 * and exits 1 without listening. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int escalated;

static void expect_refused(const char *what, int result)
{
    if (result == 0 && (geteuid() == 0 || getuid() == 0)) {
        fprintf(stderr, "ESCALATED: %s\n", what);
        escalated++;
    } else if (result == 0) {
        fprintf(stderr, "%s: allowed, but still uid %d\n", what, (int)geteuid());
    } else {
        fprintf(stderr, "%s: %s\n", what, strerror(errno));
    }
}

/* Capabilities in the effective set, from /proc/self/status. */
static unsigned long long capabilities(void)
{
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long caps = 0;
    while (status && fgets(line, sizeof line, status))
        if (sscanf(line, "CapEff: %llx", &caps) == 1)
            break;
    if (status)
        fclose(status);
    return caps;
}

/* Runs a command; "ESCALATED" if it printed 0 (uid 0) or exited 0 where it should not. */
static void command(const char *what, const char *line, int must_fail)
{
    char shown[256] = "";
    FILE *out = popen(line, "r");
    if (out && !fgets(shown, sizeof shown, out))
        shown[0] = '\0';
    int status = out ? pclose(out) : -1;
    shown[strcspn(shown, "\n")] = '\0';
    if (strcmp(shown, "0") == 0 || (must_fail && status == 0)) {
        fprintf(stderr, "ESCALATED: %s (%s)\n", what, shown);
        escalated++;
    } else {
        fprintf(stderr, "%s: refused (%s)\n", what, shown);
    }
}

int main(void)
{
    if (getenv("HOSTILE_SETUID_AGAIN")) { /* its own set-user-ID copy, run again */
        printf("%d\n", (int)geteuid());
        exit(0);
    }
    expect_refused("setuid(0)", setuid(0));
    expect_refused("seteuid(0)", seteuid(0));
    expect_refused("setresuid(0, 0, 0)", setresuid(0, 0, 0));
    expect_refused("setgid(0)", setgid(0));
    gid_t root_group = 0;
    expect_refused("setgroups([0])", setgroups(1, &root_group));
    if (capabilities() != 0) {
        fprintf(stderr, "ESCALATED: capabilities %llx\n", capabilities());
        escalated++;
    }
    command("su root", "su root -c 'id -u' </dev/null 2>&1", 1);
    command("mount (set-user-ID root)", "mount -t tmpfs none /tmp 2>&1", 1);
    command("unshare -r (a user namespace)", "unshare -r id -u 2>&1", 1);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char copy[4200], line[17000];
        snprintf(copy, sizeof copy, "%s-suid", self);
        snprintf(line, sizeof line, "cp '%s' '%s' && chmod 4755 '%s' && "
                 "HOSTILE_SETUID_AGAIN=1 '%s'", self, copy, copy, copy);
        command("its own set-user-ID copy", line, 0);
    }
    if (!escalated)
        fprintf(stderr, "every attempt refused\n");
    return 1;
}
