/* Hostile client: kill(-1, SIGKILL) kills every process it is allowed to signal, then it
 * exits 0 having printed nothing. In the sandbox that is only its own user's processes.
 * It refuses to run as anyone else (as root it would take the machine down). */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    uid_t me = getuid(); /* a sandbox user id: the local backend's, or docker's */
    if (!((me >= 62000 && me < 63000) || (me >= 70000 && me < 100000))) {
        fprintf(stderr, "kill_all: refusing to run outside the sandbox\n");
        return 3;
    }
    if (kill(-1, SIGKILL) == -1)
        perror("kill");
    return 0;
}
