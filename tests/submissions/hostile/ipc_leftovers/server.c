/* Hostile server: the reference server, plus IPC objects created before main() and never
 * removed. Their names are fixed (not the ones the grader gives): in a sandbox without an
 * IPC namespace of its own they would stay on the machine and meet other gradings. If it
 * cannot create one of them, it exits 1 (its check fails): the test would prove nothing. */
#include <fcntl.h>
#include <mqueue.h>
#include <semaphore.h>
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "reference_server.inc"

#define KEY 0x14141414 /* the SysV key of every object */

static int failed; /* objects it could not leave: then the check would prove nothing */

static void refused(const char *what)
{
    perror(what);
    failed++;
}

static void bound_socket(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un where = {.sun_family = AF_UNIX};
    strncpy(where.sun_path, path, sizeof where.sun_path - 1);
    if (fd == -1 || bind(fd, (struct sockaddr *)&where, sizeof where) == -1)
        refused(path);
    /* the descriptor stays open: the file stays, whoever removes the process */
}

__attribute__((constructor)) static void leave_ipc_behind(void)
{
    struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 64};
    mqd_t mq = mq_open("/hostile-ipc-mq", O_CREAT | O_RDWR, 0666, &attr);
    if (mq == (mqd_t)-1 || mq_send(mq, "left behind", 11, 0) == -1)
        refused("mq_open");
    int shm = shm_open("/hostile-ipc-shm", O_CREAT | O_RDWR, 0666);
    if (shm == -1 || ftruncate(shm, 1 << 20) == -1)
        refused("shm_open");
    if (sem_open("/hostile-ipc-sem", O_CREAT, 0666, 1) == SEM_FAILED)
        refused("sem_open");
    if (shmget(KEY, 1 << 20, IPC_CREAT | 0666) == -1)
        refused("shmget");
    if (semget(KEY, 4, IPC_CREAT | 0666) == -1)
        refused("semget");
    int msq = msgget(KEY, IPC_CREAT | 0666);
    struct { long type; char text[16]; } message = {1, "left behind"};
    if (msq == -1 || msgsnd(msq, &message, sizeof message.text, IPC_NOWAIT) == -1)
        refused("msgget");
    unlink("/tmp/hostile-ipc.sock"); /* the previous check's server left it */
    bound_socket("/tmp/hostile-ipc.sock");
    bound_socket("hostile-ipc.sock");
    if (failed)
        _exit(1);
}
