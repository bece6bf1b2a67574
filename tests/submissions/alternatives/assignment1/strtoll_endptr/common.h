/* Shared helpers for the sum server and its client (strtoll_endptr solution). */
#ifndef COMMON_H
#define COMMON_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/un.h>

/* Fill *addr with an AF_UNIX address for path; returns -1 (and prints a
 * message prefixed with prog) if the path does not fit into sun_path. */
int make_addr(const char *prog, const char *path, struct sockaddr_un *addr);

/* Write all len bytes of buf to fd with send(MSG_NOSIGNAL) if it is a
 * socket, or write() otherwise.  Retries on EINTR unless *stop is set.
 * Returns 0, or -1 with errno set. */
int write_all(int fd, const void *buf, size_t len, int is_socket,
              volatile sig_atomic_t *stop);

#endif
