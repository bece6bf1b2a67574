#define _GNU_SOURCE
#include "linebuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t peeked;         /* bytes (with '\n') of the peeked line */

int linebuf_init(struct linebuf *b, size_t cap)
{
    b->data = malloc(cap);
    b->start = b->len = 0;
    b->cap = cap;
    return b->data ? 0 : -1;
}

ssize_t linebuf_fill(struct linebuf *b, int fd)
{
    if (b->start > 0) {                 /* compact */
        memmove(b->data, b->data + b->start, b->len - b->start);
        b->len -= b->start;
        b->start = 0;
    }
    if (b->len == b->cap) {             /* a long line: grow */
        char *p = realloc(b->data, b->cap * 2);
        if (!p) {
            errno = ENOMEM;
            return -1;
        }
        b->data = p;
        b->cap *= 2;
    }
    ssize_t n = read(fd, b->data + b->len, b->cap - b->len);
    if (n > 0)
        b->len += (size_t)n;
    return n;
}

bool linebuf_peek(struct linebuf *b, bool at_eof, char **line, size_t *len)
{
    char *p = b->data + b->start;
    size_t avail = b->len - b->start;
    char *nl = memchr(p, '\n', avail);
    if (nl) {
        *line = p;
        *len = (size_t)(nl - p);
        peeked = *len + 1;
        return true;
    }
    if (at_eof && avail > 0) {          /* last line without '\n' */
        *line = p;
        *len = avail;
        peeked = avail;
        return true;
    }
    return false;
}

void linebuf_consume(struct linebuf *b)
{
    b->start += peeked;
    peeked = 0;
    if (b->start == b->len)
        b->start = b->len = 0;
}
