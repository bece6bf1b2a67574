/* Hostile server: looks for the grader's files and prints whatever it can read of them. */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    const char *commands[] = {
        "ls ../../build/reference ../reference ../../reference-bin 2>&1",
        "head -c 300 ../../build/reference/server.c 2>&1",
        "cat /proc/1/environ 2>&1 | tr '\\0' '\\n' | head -5",
        "for d in / /work /root /home /var/lib/ipc-grader/runs /opt/ipc-grader; do ls $d 2>&1 | head -3; done",
        "find / -name checks.py -not -path '/proc/*' 2>/dev/null | head -3 | xargs -r head -c 200",
        "find / -path '*reference/assignment*/server.c' 2>/dev/null | head -3 | xargs -r head -c 200",
        "find / -name 'report.json' -o -name 'lane-*' 2>/dev/null | head -3",
        NULL,
    };
    for (int i = 0; commands[i]; i++) {
        printf("$ %s\n", commands[i]);
        fflush(stdout);
        system(commands[i]);
    }
    return 1;
}
