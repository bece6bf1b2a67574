/* mini_serv PORT: a chat server for many TCP clients, one process, one thread, select().
 *
 * The 42 "mini_serv" subject (exam rank 06). It listens on 127.0.0.1:PORT. Clients get
 * ids 0, 1, 2, ... in order of arrival, never reused. Every other client hears
 *   "server: client %d just arrived\n"  when a client connects,
 *   "client %d: " + line                 for every line (up to its '\n') a client sends,
 *   "server: client %d just left\n"     when a client disconnects (EOF or error).
 * Errors, on stderr with exit status 1: "Wrong number of arguments\n" without exactly one
 * argument; "Fatal error\n" when socket/bind/listen fail, or an allocation fails.
 *
 * Design:
 * - Input: each client has a buffer for its unfinished line; recv() reads 64 KiB at a
 *   time, and all the complete lines of one chunk become ONE outgoing message (each line
 *   with its prefix), so a flood of short lines costs few allocations and system calls.
 * - Output: a message is allocated once and shared (reference counted) by the queues of
 *   all its receivers. A client's queue is written only when select() says the socket is
 *   writable, with sendmsg(MSG_DONTWAIT | MSG_NOSIGNAL) of up to 64 queued messages, so a
 *   client that never reads stalls nobody, and SIGPIPE never comes.
 * - Bounds: a client more than QUEUE_MAX bytes behind loses whole messages (never part of
 *   a line; a message always enters an empty queue, so a line of any accepted length
 *   reaches a client that reads); when all queued messages together hold more than
 *   TOTAL_MAX bytes, new messages go only to clients that are up to date. An unfinished
 *   line longer than LINE_MAX_LEN is dropped, up to and including its '\n'. So memory is
 *   bounded, and a client that keeps up (never QUEUE_MAX behind on top of what the kernel
 *   buffers) receives every line, in each sender's order.
 * - A failed recv()/send() on one client (reset, EPIPE) is that client leaving.
 * - select() has no timeout: an idle server sleeps. (Only when accept() runs out of
 *   descriptors or memory does it stop watching the listening socket, which would stay
 *   readable, and retry after 100 ms.) The listening socket is handled after the clients,
 *   so an fd closed and reused in the same round never meets a stale bit.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define CHUNK (64 * 1024)         /* bytes per recv() */
#define QUEUE_MAX (4u << 20)      /* bytes a client may lag behind before losing messages */
#define TOTAL_MAX (64u << 20)     /* bytes of all queued messages, all clients together */
#define LINE_MAX_LEN (16u << 20)  /* longest line relayed; longer ones are dropped */
#define IOV_BATCH 64              /* queued messages handed to one sendmsg() */

typedef struct message {
    size_t refs;  /* queues holding it */
    size_t len;
    char data[];
} message_t;

typedef struct client {
    int id;
    char *line;          /* the unfinished line received so far */
    size_t line_len, line_cap;
    int dropping;        /* inside a line longer than LINE_MAX_LEN: skip to its '\n' */
    message_t **queue;   /* ring of messages waiting to be sent */
    size_t first, count, cap;
    size_t sent;         /* bytes of queue[first] already sent */
    size_t queued;       /* bytes waiting, all queued messages together */
} client_t;

static client_t *clients[FD_SETSIZE];  /* by fd; NULL where no client */
static fd_set active;    /* every socket: the listener and the clients */
static int listener;
static int max_fd;       /* highest fd in use, the listening socket included */
static int next_id;
static size_t total_queued; /* bytes of all live messages */

static void fatal(void)
{
    fputs("Fatal error\n", stderr); /* stderr is unbuffered: one write() */
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        fatal();
    return p;
}

static message_t *new_message(size_t len)
{
    message_t *m = xmalloc(sizeof *m + len);
    m->refs = 0;
    m->len = len;
    total_queued += len;
    return m;
}

static void unref(message_t *m)
{
    if (--m->refs == 0) {
        total_queued -= m->len;
        free(m);
    }
}

static void enqueue(client_t *c, message_t *m)
{
    if (c->count > 0 && (c->queued + m->len > QUEUE_MAX || total_queued > TOTAL_MAX))
        return; /* this client is far behind: it loses the whole message */
    if (c->count == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        message_t **q = xmalloc(cap * sizeof *q);
        for (size_t i = 0; i < c->count; i++)
            q[i] = c->queue[(c->first + i) % c->cap];
        free(c->queue);
        c->queue = q;
        c->first = 0;
        c->cap = cap;
    }
    c->queue[(c->first + c->count) % c->cap] = m;
    c->count++;
    c->queued += m->len;
    m->refs++;
}

/* Queues m for every client except the one on fd `except`; frees it if nobody takes it. */
static void broadcast(message_t *m, int except)
{
    m->refs = 1; /* held while we hand it out */
    for (int fd = 0; fd <= max_fd; fd++)
        if (clients[fd] && fd != except)
            enqueue(clients[fd], m);
    unref(m);
}

static void announce(const char *format, int id, int except)
{
    char text[64];
    int n = snprintf(text, sizeof text, format, id);
    message_t *m = new_message((size_t)n);
    memcpy(m->data, text, (size_t)n);
    broadcast(m, except);
}

static void remove_client(int fd)
{
    client_t *c = clients[fd];
    clients[fd] = NULL;
    FD_CLR(fd, &active);
    close(fd);
    while (max_fd > listener && !clients[max_fd])
        max_fd--;
    while (c->count > 0) {
        unref(c->queue[c->first]);
        c->first = (c->first + 1) % c->cap;
        c->count--;
    }
    int id = c->id;
    free(c->queue);
    free(c->line);
    free(c); /* an unfinished last line is dropped */
    announce("server: client %d just left\n", id, -1);
}

static void keep_line_part(client_t *c, const char *data, size_t n)
{
    if (c->dropping || n == 0)
        return;
    if (c->line_len + n > LINE_MAX_LEN) {
        c->dropping = 1; /* too long: drop it all, up to its '\n' */
        c->line_len = 0;
        return;
    }
    if (c->line_len + n > c->line_cap) {
        size_t cap = c->line_cap ? c->line_cap : 256;
        while (cap < c->line_len + n)
            cap *= 2;
        char *p = realloc(c->line, cap);
        if (!p)
            fatal();
        c->line = p;
        c->line_cap = cap;
    }
    memcpy(c->line + c->line_len, data, n);
    c->line_len += n;
}

/* Relays the complete lines in data[0..n) (the first one continuing c->line), all in one
 * message; keeps the unfinished tail. */
static void got_data(int fd, client_t *c, const char *data, size_t n)
{
    const char *end = data + n, *p = data, *nl;
    if (c->dropping) {
        if (!(nl = memchr(p, '\n', n)))
            return;
        c->dropping = 0;
        p = nl + 1;
    }
    char prefix[32];
    size_t plen = (size_t)snprintf(prefix, sizeof prefix, "client %d: ", c->id);
    size_t lines = 0, last = 0; /* last: offset just after the last '\n' */
    for (const char *q = p; q < end && (nl = memchr(q, '\n', (size_t)(end - q))); q = nl + 1) {
        lines++;
        last = (size_t)(nl + 1 - data);
    }
    if (lines == 0) {
        keep_line_part(c, p, (size_t)(end - p));
        return;
    }
    size_t body = last - (size_t)(p - data);
    message_t *m = new_message(lines * plen + c->line_len + body);
    char *out = m->data;
    const char *q = p;
    for (size_t i = 0; i < lines; i++) {
        nl = memchr(q, '\n', (size_t)(end - q));
        memcpy(out, prefix, plen);
        out += plen;
        if (i == 0 && c->line_len > 0) {
            memcpy(out, c->line, c->line_len);
            out += c->line_len;
            c->line_len = 0;
        }
        memcpy(out, q, (size_t)(nl + 1 - q));
        out += nl + 1 - q;
        q = nl + 1;
    }
    broadcast(m, fd);
    keep_line_part(c, data + last, n - last);
}

static void read_client(int fd)
{
    static char buf[CHUNK];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0)
        got_data(fd, clients[fd], buf, (size_t)n);
    else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        remove_client(fd); /* EOF, or a reset */
}

/* Sends what the kernel takes of fd's queue, without blocking. */
static void write_client(int fd)
{
    client_t *c = clients[fd];
    while (c->count > 0) {
        struct iovec iov[IOV_BATCH];
        size_t k = 0, want = 0;
        for (; k < c->count && k < IOV_BATCH; k++) {
            message_t *m = c->queue[(c->first + k) % c->cap];
            size_t skip = k == 0 ? c->sent : 0;
            iov[k].iov_base = m->data + skip;
            iov[k].iov_len = m->len - skip;
            want += m->len - skip;
        }
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = k};
        ssize_t n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                remove_client(fd); /* EPIPE, ECONNRESET: the client is gone */
            return;
        }
        size_t left = (size_t)n;
        c->queued -= left;
        while (left > 0) {
            message_t *m = c->queue[c->first];
            if (c->sent + left < m->len) {
                c->sent += left;
                break;
            }
            left -= m->len - c->sent;
            c->sent = 0;
            c->first = (c->first + 1) % c->cap;
            c->count--;
            unref(m);
        }
        if ((size_t)n < want)
            return; /* the socket buffer is full: wait until select() says writable */
    }
}

/* Accepts one client. Returns -1 when the system is out of descriptors or memory: the
 * caller then stops watching the listening socket for a while, since it would stay
 * readable and keep select() from ever sleeping. */
static int accept_client(void)
{
    int fd = accept(listener, NULL, NULL);
    if (fd < 0)
        return errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM
                   ? -1 : 0;
    if (fd >= FD_SETSIZE) {
        close(fd);
        return -1;
    }
    client_t *c = calloc(1, sizeof *c);
    if (!c)
        fatal();
    c->id = next_id++;
    announce("server: client %d just arrived\n", c->id, -1); /* before it joins */
    clients[fd] = c;
    FD_SET(fd, &active);
    if (fd > max_fd)
        max_fd = fd;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fputs("Wrong number of arguments\n", stderr);
        exit(1);
    }
    char *end;
    long port = strtol(argv[1], &end, 10);
    if (*argv[1] == '\0' || *end != '\0' || port < 1 || port > 65535)
        fatal(); /* not a port number: left open by the subject */

    listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0 || listener >= FD_SETSIZE)
        fatal();
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* 127.0.0.1 only */
    addr.sin_port = htons((unsigned short)port);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0
        || listen(listener, SOMAXCONN) < 0)
        fatal();
    max_fd = listener;
    FD_SET(listener, &active);

    int accepting = 1;
    for (;;) {
        fd_set rd = active, wr;
        if (!accepting)
            FD_CLR(listener, &rd);
        FD_ZERO(&wr);
        for (int fd = 0; fd <= max_fd; fd++)
            if (clients[fd] && clients[fd]->count > 0)
                FD_SET(fd, &wr); /* only clients with something to send */
        struct timeval pause = {0, 100000}; /* only while not accepting */
        if (select(max_fd + 1, &rd, &wr, NULL, accepting ? NULL : &pause) < 0) {
            if (errno == EINTR)
                continue;
            fatal();
        }
        for (int fd = 0; fd <= max_fd; fd++) {
            if (clients[fd] && FD_ISSET(fd, &rd))
                read_client(fd);
            if (clients[fd] && FD_ISSET(fd, &wr))
                write_client(fd);
        }
        if (!accepting)
            accepting = 1; /* try again: a client may have left, memory may be free */
        else if (FD_ISSET(listener, &rd) && accept_client() < 0)
            accepting = 0;
    }
}
