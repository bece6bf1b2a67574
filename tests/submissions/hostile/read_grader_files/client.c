/* client SOCKET_PATH: sends its stdin to the sum server and prints the replies.
 *
 * A second thread copies stdin to the socket and, at EOF, shuts down the sending
 * side; the main thread prints everything the server sends until it closes the
 * connection. Sending and receiving at once means neither side can block the
 * other, however much input there is.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Writes all n bytes, resuming after partial writes. Returns 0, or -1 on error. */
static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w == -1) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Thread: copies stdin to the socket, then tells the server there is no more. */
static void *send_input(void *arg)
{
    int sock = *(int *)arg;
    char buf[4096];
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            perror("read stdin");
            break;
        }
        if (n == 0)
            break;
        if (write_all(sock, buf, (size_t)n) == -1) {
            perror("write"); /* the server left; the main thread sees the end */
            return NULL;
        }
    }
    if (shutdown(sock, SHUT_WR) == -1)
        perror("shutdown");
    return NULL;
}

int main(int argc, char *argv[])
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s SOCKET_PATH\n", argv[0]);
        return 2;
    }
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(argv[1]) >= sizeof addr.sun_path) {
        fprintf(stderr, "client: socket path too long: %s\n", argv[1]);
        return 1;
    }
    strcpy(addr.sun_path, argv[1]);
    signal(SIGPIPE, SIG_IGN); /* a server that left gives EPIPE, not a fatal signal */

    int sock = socket(AF_UNIX, SOCK_STREAM, 0);
    if (sock == -1) {
        perror("socket");
        return 1;
    }
    if (connect(sock, (struct sockaddr *)&addr, sizeof addr) == -1) {
        fprintf(stderr, "client: cannot connect to %s: %s\n", argv[1], strerror(errno));
        close(sock);
        return 1;
    }
    pthread_t sender;
    int err = pthread_create(&sender, NULL, send_input, &sock);
    if (err != 0) {
        fprintf(stderr, "pthread_create: %s\n", strerror(err));
        close(sock);
        return 1;
    }

    int status = 0;
    char buf[4096];
    for (;;) {
        ssize_t n = read(sock, buf, sizeof buf);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1) {
            perror("read");
            status = 1;
            break;
        }
        if (n == 0) /* the server closed the connection: every reply is printed */
            break;
        if (write_all(STDOUT_FILENO, buf, (size_t)n) == -1) {
            perror("write stdout");
            status = 1;
            break;
        }
    }
    /* Returning ends the sender too, even if it still waits for stdin. */
    close(sock);
    return status;
}
