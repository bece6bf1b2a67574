/* Hostile server: phones home before serving. 192.0.2.1 is TEST-NET-1 (RFC 5737), never
 * routed; without a network the connect() fails at once. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>

int main(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd == -1) {
        perror("socket");
        return 1;
    }
    struct sockaddr_in home = { .sin_family = AF_INET, .sin_port = htons(80) };
    inet_pton(AF_INET, "192.0.2.1", &home.sin_addr);
    if (connect(fd, (struct sockaddr *)&home, sizeof home) == -1) {
        perror("connect 192.0.2.1");
        return 1;
    }
    fprintf(stderr, "connected to 192.0.2.1\n");
    return 5;
}
