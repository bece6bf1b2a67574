/* Hostile client: kill(-1, SIGKILL) kills every process it is allowed to signal, then it
 * exits 0 having printed nothing. In the sandbox that is only its own user's processes.
 * It refuses to run as anyone else (as root it would take the machine down). */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    if (getuid() < 62000 || getuid() >= 63000) {
        fprintf(stderr, "kill_all: refusing to run outside the sandbox\n");
        return 3;
    }
    if (kill(-1, SIGKILL) == -1)
        perror("kill");
    return 0;
}
