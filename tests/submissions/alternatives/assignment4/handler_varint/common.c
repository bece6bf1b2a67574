#include "common.h"

#include <errno.h>
#include <limits.h>
#include <unistd.h>

size_t varint_encode(uint32_t n, unsigned char *out)
{
    size_t i = 0;
    do {
        unsigned char b = n & 0x7f;
        n >>= 7;
        out[i++] = (unsigned char)(b | (n ? 0x80 : 0));
    } while (n);
    return i;
}

pid_t parse_pid(const char *s)
{
    if (*s == '\0')
        return -1;
    long long v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;               /* sign, space, "0x1f", "12x" */
        v = v * 10 + (*s - '0');
        if (v > INT_MAX)
            return -1;               /* 4294967295 and friends */
    }
    return v >= 1 ? (pid_t)v : -1;   /* 0 would signal our process group */
}

int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}
