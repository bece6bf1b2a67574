/* Hostile server: phones home over TCP, UDP, raw DNS and curl, to the listeners the test runs
 * on the host's 127.0.0.1 (ports.h, written by the test). Then it exits 1 without listening. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ports.h" /* TCP_PORT, UDP_PORT, DNS_PORT */

static struct sockaddr_in home(int port)
{
    struct sockaddr_in where = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &where.sin_addr);
    return where;
}

static void tcp(void)
{
    struct sockaddr_in where = home(TCP_PORT);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&where, sizeof where) == -1) {
        fprintf(stderr, "tcp 127.0.0.1:%d: %s\n", TCP_PORT, strerror(errno));
    } else {
        ssize_t sent = write(fd, "PHONED HOME over tcp\n", 21);
        fprintf(stderr, "tcp 127.0.0.1:%d: connected, sent %zd bytes\n", TCP_PORT, sent);
    }
    close(fd);
}

/* Sends `packet` to 127.0.0.1:port over UDP and waits up to a second for an answer. */
static void udp(const char *what, int port, const void *packet, size_t size)
{
    struct sockaddr_in where = home(port);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (connect(fd, (struct sockaddr *)&where, sizeof where) == -1
        || send(fd, packet, size, 0) == -1) {
        fprintf(stderr, "%s 127.0.0.1:%d: %s\n", what, port, strerror(errno));
        close(fd);
        return;
    }
    struct pollfd answer = {.fd = fd, .events = POLLIN};
    char reply[512];
    if (poll(&answer, 1, 1000) == 1) {
        ssize_t n = recv(fd, reply, sizeof reply, 0);
        if (n == -1)
            fprintf(stderr, "%s 127.0.0.1:%d: sent, then %s\n", what, port, strerror(errno));
        else
            fprintf(stderr, "%s 127.0.0.1:%d: answered %zd bytes\n", what, port, n);
    } else {
        fprintf(stderr, "%s 127.0.0.1:%d: sent, no answer\n", what, port);
    }
    close(fd);
}

int main(void)
{
    tcp();
    const char datagram[] = "PHONED HOME over udp\n";
    udp("udp", UDP_PORT, datagram, sizeof datagram - 1);
    /* A DNS query for phoned.home. type A, id 0x1414, recursion desired. */
    const unsigned char query[] = {0x14, 0x14, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
                                   6, 'p', 'h', 'o', 'n', 'e', 'd', 4, 'h', 'o', 'm', 'e',
                                   0, 0, 1, 0, 1};
    udp("dns", DNS_PORT, query, sizeof query);
    char command[128];
    snprintf(command, sizeof command,
             "curl -sS -m 2 -o /dev/null http://127.0.0.1:%d/phoned-home-with-curl 2>&1",
             TCP_PORT);
    int status = system(command);
    fprintf(stderr, "curl: exit status %d\n", WEXITSTATUS(status));
    return 1;
}
