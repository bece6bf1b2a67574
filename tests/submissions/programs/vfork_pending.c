/* A vfork() whose child has not exec'd yet: the parent waits in the kernel (state D) until
 * the child execs or exits. Here the child waits for a signal first, so the moment lasts;
 * with system(), posix_spawn() or a shell it lasts microseconds, but a SIGSTOP can land in
 * it. Only async-signal-safe calls in the child. */
#include <signal.h>
#include <unistd.h>

int main(void)
{
    pid_t child = vfork();
    if (child == 0) {
        write(STDOUT_FILENO, "ready\n", 6);
        pause();
        execl("/bin/true", "true", (char *)NULL);
        _exit(127);
    }
    return child == -1;
}
