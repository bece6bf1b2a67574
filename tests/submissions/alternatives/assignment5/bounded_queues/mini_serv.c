/* mini_serv, "bounded queues" design.
 * Every client owns an output ring buffer of bytes (power-of-two capacity,
 * grown on demand, at most QUEUE_CAP bytes queued). A message (prefix + line)
 * goes into a ring whole or not at all: a client whose ring cannot take it
 * misses it. Rings are written with sendmsg() (two iovecs when the data
 * wraps) only when select() reports the socket writable. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define QUEUE_CAP  ((size_t)2 << 20)   /* per client, bytes queued */
#define GLOBAL_CAP ((size_t)128 << 20) /* all clients together */
#define MAX_LINE   (QUEUE_CAP - 64)    /* longer lines are dropped whole */
#define RECV_MIN   ((size_t)64 << 10)  /* free room before each recv() */
#define KEEP_CAP   ((size_t)64 << 10)  /* larger idle buffers are freed */

typedef struct s_ring {
	char  *buf;
	size_t cap; /* 0 or a power of two */
	size_t head; /* index of the first queued byte */
	size_t len; /* bytes queued */
} t_ring;

typedef struct s_client {
	int    id;
	int    discarding; /* inside a line longer than MAX_LINE */
	char  *in;
	size_t in_len, in_cap, scanned;
	t_ring out;
} t_client;

static t_client *g_cl[FD_SETSIZE];
static int       g_listen, g_maxfd = -1, g_next_id, g_spare = -1;
static size_t    g_queued;

static void fatal(void)
{
	write(2, "Fatal error\n", 12);
	exit(1);
}

/* ------------------------------------------------------------ ring buffer */

static void ring_grow(t_ring *r, size_t need)
{
	size_t cap = r->cap ? r->cap : 4096;
	while (cap < need)
		cap *= 2;
	char *nb = malloc(cap);
	if (!nb)
		fatal();
	size_t first = r->cap - r->head < r->len ? r->cap - r->head : r->len;
	if (r->len) {
		memcpy(nb, r->buf + r->head, first);
		memcpy(nb + first, r->buf, r->len - first);
	}
	free(r->buf);
	r->buf = nb;
	r->cap = cap;
	r->head = 0;
}

static void ring_write(t_ring *r, const char *p, size_t n)
{
	size_t tail = (r->head + r->len) & (r->cap - 1);
	size_t room = r->cap - tail;
	if (n <= room)
		memcpy(r->buf + tail, p, n);
	else {
		memcpy(r->buf + tail, p, room);
		memcpy(r->buf, p + room, n - room);
	}
	r->len += n;
}

/* queue a whole message, or nothing. 1 if queued */
static int ring_push(t_ring *r, const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen + blen;
	if (r->len + n > QUEUE_CAP || g_queued + n > GLOBAL_CAP)
		return 0;
	if (r->len + n > r->cap)
		ring_grow(r, r->len + n);
	ring_write(r, a, alen);
	ring_write(r, b, blen);
	g_queued += n;
	return 1;
}

static void ring_free(t_ring *r)
{
	g_queued -= r->len;
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* one sendmsg() of everything queued; -1 if the connection is gone */
static int ring_send(int fd, t_ring *r)
{
	struct iovec  iov[2];
	struct msghdr mh;
	size_t        first = r->cap - r->head < r->len ? r->cap - r->head : r->len;

	memset(&mh, 0, sizeof(mh));
	iov[0].iov_base = r->buf + r->head;
	iov[0].iov_len = first;
	iov[1].iov_base = r->buf;
	iov[1].iov_len = r->len - first;
	mh.msg_iov = iov;
	mh.msg_iovlen = r->len > first ? 2 : 1;
	ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
	r->head = (r->head + (size_t)n) & (r->cap - 1);
	r->len -= (size_t)n;
	g_queued -= (size_t)n;
	if (!r->len) {
		r->head = 0;
		if (r->cap > KEEP_CAP)
			ring_free(r);
	}
	return 0;
}

/* ------------------------------------------------------------ clients */

static void broadcast(int except, const char *pre, size_t plen, const char *line, size_t llen)
{
	for (int fd = 0; fd <= g_maxfd; fd++)
		if (g_cl[fd] && fd != except)
			ring_push(&g_cl[fd]->out, pre, plen, line, llen);
}

static void server_says(int except, const char *fmt, int id)
{
	char msg[64];
	int  n = snprintf(msg, sizeof(msg), fmt, id);
	broadcast(except, msg, (size_t)n, "", 0);
}

static void drop_client(int fd)
{
	t_client *c = g_cl[fd];
	int       id = c->id;

	close(fd);
	ring_free(&c->out);
	free(c->in);
	free(c);
	g_cl[fd] = NULL;
	while (g_maxfd >= 0 && !g_cl[g_maxfd])
		g_maxfd--;
	server_says(-1, "server: client %d just left\n", id);
}

static void accept_clients(void)
{
	for (int i = 0; i < 64; i++) {
		int fd = accept(g_listen, NULL, NULL);
		if (fd < 0) {
			if ((errno == EMFILE || errno == ENFILE) && g_spare >= 0) {
				/* out of descriptors: refuse one pending connection
				 * rather than spin on a readable listening socket */
				close(g_spare);
				fd = accept(g_listen, NULL, NULL);
				if (fd >= 0)
					close(fd);
				g_spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
			}
			return;
		}
		if (fd >= FD_SETSIZE || fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
			close(fd);
			continue;
		}
		t_client *c = calloc(1, sizeof(*c));
		if (!c)
			fatal();
		c->id = g_next_id++;
		g_cl[fd] = c;
		if (fd > g_maxfd)
			g_maxfd = fd;
		server_says(fd, "server: client %d just arrived\n", c->id);
	}
}

static void relay(int fd, const char *line, size_t len)
{
	char pre[32];
	int  n = snprintf(pre, sizeof(pre), "client %d: ", g_cl[fd]->id);
	broadcast(fd, pre, (size_t)n, line, len);
}

/* 0 fine, -1 the client is gone */
static int read_client(int fd)
{
	t_client *c = g_cl[fd];

	if (c->in_cap - c->in_len < RECV_MIN) {
		size_t cap = c->in_cap ? c->in_cap : RECV_MIN;
		while (cap - c->in_len < RECV_MIN)
			cap *= 2;
		char *p = realloc(c->in, cap);
		if (!p)
			fatal();
		c->in = p;
		c->in_cap = cap;
	}
	ssize_t n = recv(fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
	if (n < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
	if (n == 0)
		return -1; /* an unfinished line is dropped */
	c->in_len += (size_t)n;

	size_t start = 0; /* first byte of the current line */
	char  *nl;
	while ((nl = memchr(c->in + c->scanned, '\n', c->in_len - c->scanned))) {
		size_t end = (size_t)(nl - c->in) + 1;
		if (c->discarding)
			c->discarding = 0;
		else if (end - start <= MAX_LINE)
			relay(fd, c->in + start, end - start);
		start = c->scanned = end;
	}
	c->scanned = c->in_len;
	if (c->discarding || c->in_len - start > MAX_LINE) {
		c->discarding = 1; /* forget the bytes of an over-long line */
		start = c->in_len;
	}
	if (start) {
		memmove(c->in, c->in + start, c->in_len - start);
		c->in_len -= start;
		c->scanned = c->in_len;
	}
	if (!c->in_len && c->in_cap > KEEP_CAP) {
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
	return 0;
}

/* ------------------------------------------------------------ main */

static int open_listener(const char *arg)
{
	char *end;
	long  port = strtol(arg, &end, 10);
	if (end == arg || *end || port < 1 || port > 65535)
		fatal();

	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* 127.0.0.1 only */
	sa.sin_port = htons((unsigned short)port);

	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || fd >= FD_SETSIZE)
		fatal();
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, SOMAXCONN) < 0)
		fatal();
	return fd;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		write(2, "Wrong number of arguments\n", 26);
		return 1;
	}
	g_listen = open_listener(argv[1]);
	signal(SIGPIPE, SIG_IGN); /* and MSG_NOSIGNAL on every send */
	g_spare = open("/dev/null", O_RDONLY | O_CLOEXEC);

	for (;;) {
		fd_set rd, wr;
		int    top = g_listen > g_maxfd ? g_listen : g_maxfd;

		FD_ZERO(&rd);
		FD_ZERO(&wr);
		FD_SET(g_listen, &rd);
		for (int fd = 0; fd <= g_maxfd; fd++)
			if (g_cl[fd]) {
				FD_SET(fd, &rd);
				if (g_cl[fd]->out.len)
					FD_SET(fd, &wr);
			}
		if (select(top + 1, &rd, &wr, NULL, NULL) < 0)
			continue; /* EINTR */
		for (int fd = 0; fd <= g_maxfd; fd++)
			if (g_cl[fd] && FD_ISSET(fd, &wr) && ring_send(fd, &g_cl[fd]->out) < 0)
				drop_client(fd);
		for (int fd = 0; fd <= g_maxfd; fd++)
			if (g_cl[fd] && FD_ISSET(fd, &rd) && read_client(fd) < 0)
				drop_client(fd);
		if (FD_ISSET(g_listen, &rd))
			accept_clients();
	}
}
