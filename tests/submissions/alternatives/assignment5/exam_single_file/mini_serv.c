/* mini_serv: a select() chat server on 127.0.0.1 (42 exam rank 06 subject).
 * Design "drop": a message is queued for a client only while that client is
 * writable; a client whose kernel buffer filled up (last send() partial or
 * EAGAIN) is "blocked" and misses the messages that come until select()
 * reports it writable again and its pending bytes are all sent. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#define RECV_SIZE (128 * 1024)
#define MAX_LINE (2 * 1024 * 1024) /* longer lines are dropped whole */
#define KEEP_CAP (64 * 1024)       /* larger idle buffers are freed */

typedef struct s_client {
	int    id;
	int    blocked;    /* kernel buffer full: drop new messages */
	int    discarding; /* inside a line longer than MAX_LINE */
	char  *in;         /* unfinished line */
	size_t in_len, in_cap;
	char  *out;        /* bytes not yet sent */
	size_t out_off, out_len, out_cap;
} t_client;

static t_client *clients[FD_SETSIZE];
static fd_set    active;
static int       sockfd, maxfd, next_id;
static int       accept_paused; /* out of descriptors until someone leaves */
static char      rbuf[RECV_SIZE];

static void fatal(void)
{
	write(2, "Fatal error\n", 12);
	exit(1);
}

/* str_join, exam style, but amortised: append n bytes to a growing buffer */
static void str_join(char **buf, size_t *len, size_t *cap, const char *add, size_t n)
{
	if (*len + n > *cap) {
		size_t c = *cap ? *cap : 4096;
		while (c < *len + n)
			c *= 2;
		char *p = realloc(*buf, c);
		if (!p)
			fatal();
		*buf = p;
		*cap = c;
	}
	memcpy(*buf + *len, add, n);
	*len += n;
}

/* extract_message, exam style: length of the first line of buf (with its
 * '\n'), 0 if buf holds no complete line. Nothing is copied or moved. */
static size_t extract_message(const char *buf, size_t len)
{
	const char *nl = memchr(buf, '\n', len);
	return nl ? (size_t)(nl - buf) + 1 : 0;
}

/* queue prefix+line for every client but `except` that is not blocked */
static void broadcast(int except, const char *pre, size_t plen, const char *line, size_t llen)
{
	for (int fd = 0; fd <= maxfd; fd++) {
		t_client *c = clients[fd];
		if (!c || fd == except || c->blocked)
			continue;
		str_join(&c->out, &c->out_len, &c->out_cap, pre, plen);
		if (llen)
			str_join(&c->out, &c->out_len, &c->out_cap, line, llen);
	}
}

static void announce(int except, const char *fmt, int id)
{
	char msg[64];
	int  n = sprintf(msg, fmt, id);
	broadcast(except, msg, (size_t)n, NULL, 0);
}

static void remove_client(int fd)
{
	t_client *c = clients[fd];
	int       id = c->id;

	close(fd);
	FD_CLR(fd, &active);
	free(c->in);
	free(c->out);
	free(c);
	clients[fd] = NULL;
	while (maxfd > sockfd && !clients[maxfd])
		maxfd--;
	accept_paused = 0;
	announce(-1, "server: client %d just left\n", id);
}

static void add_client(void)
{
	int fd = accept(sockfd, NULL, NULL);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE)
			accept_paused = 1; /* else the listener stays readable: a spin */
		return;
	}
	if (fd >= FD_SETSIZE) {
		close(fd);
		return;
	}
	t_client *c = calloc(1, sizeof(*c));
	if (!c)
		fatal();
	c->id = next_id++;
	clients[fd] = c;
	FD_SET(fd, &active);
	if (fd > maxfd)
		maxfd = fd;
	announce(fd, "server: client %d just arrived\n", c->id);
}

static void send_line(int fd, const char *line, size_t len)
{
	char pre[32];
	int  n = sprintf(pre, "client %d: ", clients[fd]->id);
	broadcast(fd, pre, (size_t)n, line, len);
}

/* select() said fd is writable: one non-blocking send() of what is pending */
static int flush_client(int fd)
{
	t_client *c = clients[fd];
	ssize_t   n = send(fd, c->out + c->out_off, c->out_len - c->out_off,
	                   MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
			c->blocked = 1;
			return 0;
		}
		return -1;
	}
	c->out_off += (size_t)n;
	if (c->out_off < c->out_len) {
		c->blocked = 1; /* partial send: its buffer is full */
		return 0;
	}
	c->out_off = c->out_len = 0;
	c->blocked = 0;
	if (c->out_cap > KEEP_CAP) {
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
	return 0;
}

static void read_client(int fd)
{
	t_client *c = clients[fd];
	ssize_t   r = recv(fd, rbuf, sizeof(rbuf), MSG_DONTWAIT);

	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (r <= 0) {
		remove_client(fd); /* an unfinished line is dropped */
		return;
	}
	char  *p = rbuf;
	size_t left = (size_t)r, k;
	if (c->discarding) {
		if (!(k = extract_message(p, left)))
			return;
		p += k;
		left -= k;
		c->discarding = 0;
	}
	while (left && (k = extract_message(p, left))) {
		if (c->in_len) {
			str_join(&c->in, &c->in_len, &c->in_cap, p, k);
			if (c->in_len <= MAX_LINE)
				send_line(fd, c->in, c->in_len);
			c->in_len = 0;
			if (c->in_cap > KEEP_CAP) {
				free(c->in);
				c->in = NULL;
				c->in_cap = 0;
			}
		} else if (k <= MAX_LINE)
			send_line(fd, p, k);
		p += k;
		left -= k;
	}
	if (left) {
		if (c->in_len + left > MAX_LINE) {
			free(c->in);
			c->in = NULL;
			c->in_len = c->in_cap = 0;
			c->discarding = 1;
		} else
			str_join(&c->in, &c->in_len, &c->in_cap, p, left);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		write(2, "Wrong number of arguments\n", 26);
		exit(1);
	}
	char *end;
	long  port = strtol(argv[1], &end, 10);
	if (end == argv[1] || *end || port < 1 || port > 65535)
		fatal();
	signal(SIGPIPE, SIG_IGN); /* MSG_NOSIGNAL already; belt and braces */

	struct sockaddr_in addr;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(2130706433); /* 127.0.0.1 */
	addr.sin_port = htons((unsigned short)port);
	if ((sockfd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		fatal();
	if (sockfd >= FD_SETSIZE || bind(sockfd, (struct sockaddr *)&addr, sizeof(addr)) < 0
	    || listen(sockfd, SOMAXCONN) < 0)
		fatal();
	FD_ZERO(&active);
	FD_SET(sockfd, &active);
	maxfd = sockfd;

	for (;;) {
		fd_set rset = active, wset;
		if (accept_paused)
			FD_CLR(sockfd, &rset);
		FD_ZERO(&wset);
		for (int fd = 0; fd <= maxfd; fd++)
			if (clients[fd] && clients[fd]->out_len)
				FD_SET(fd, &wset);
		if (select(maxfd + 1, &rset, &wset, NULL, NULL) < 0)
			continue;
		for (int fd = 0; fd <= maxfd; fd++)
			if (clients[fd] && FD_ISSET(fd, &wset) && flush_client(fd) < 0)
				remove_client(fd);
		for (int fd = 0; fd <= maxfd; fd++)
			if (fd != sockfd && clients[fd] && FD_ISSET(fd, &rset))
				read_client(fd);
		if (FD_ISSET(sockfd, &rset))
			add_client();
	}
}
