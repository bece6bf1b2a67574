/* Protocol shared by server.c and client.c (handler_varint solution).
 *
 * A message of n bytes travels as a frame: n as an unsigned LEB128 varint
 * (7 bits per byte, least significant group first, bit 7 set on every byte
 * but the last), then the n bytes.  Every frame byte is sent least
 * significant bit first: SIGUSR1 = 0, SIGUSR2 = 1.
 *
 * The server answers every bit but the very last one of the frame with
 * SIGUSR1 once it has stored it; the client sends the next bit only then.
 * The last bit is answered with SIGUSR2 only after the message has been
 * written to stdout: that is the confirmation.
 */
#ifndef COMMON_H
#define COMMON_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SIG_BIT0     SIGUSR1
#define SIG_BIT1     SIGUSR2
#define SIG_ACK      SIGUSR1   /* server -> client: bit stored */
#define SIG_CONFIRM  SIGUSR2   /* server -> client: message printed */
#define MAX_MESSAGE  (16u << 20)   /* the server refuses longer frames */

/* Encode n as LEB128 into out (at least 5 bytes); returns the length. */
size_t varint_encode(uint32_t n, unsigned char *out);

/* Parse a positive decimal int (digits only, 1..INT_MAX); -1 if invalid. */
pid_t parse_pid(const char *s);

/* write() everything, retrying after EINTR and short writes. */
int write_all(int fd, const void *buf, size_t len);

#endif
