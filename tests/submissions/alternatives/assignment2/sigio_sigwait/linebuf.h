/* A growable byte buffer that hands out complete lines. */
#ifndef LINEBUF_H
#define LINEBUF_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct linebuf {
    char *data;
    size_t start, len, cap;   /* unread bytes are data[start .. len) */
};

int linebuf_init(struct linebuf *b, size_t cap);
/* read() once from fd into the buffer; returns what read() returned */
ssize_t linebuf_fill(struct linebuf *b, int fd);
/* If a complete line is buffered (or, with at_eof, any bytes at all),
 * point *line at it (without the '\n') and return true.  The line stays
 * valid until linebuf_consume() / linebuf_fill(). */
bool linebuf_peek(struct linebuf *b, bool at_eof, char **line, size_t *len);
void linebuf_consume(struct linebuf *b);

#endif
