/* clients, shared messages and bounded per-client queues */
#include "mini_serv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

void fatal(void)
{
	write(2, "Fatal error\n", 12);
	exit(1);
}

static void msg_unref(t_msg *m)
{
	if (--m->refs == 0)
		free(m);
}

/* ------------------------------------------------------------ queues */

static size_t q_cost(const t_msg *m)
{
	return m->len + MSG_COST;
}

/* 1 if m was queued, 0 if this client misses it (queue full) */
static int q_push(t_outq *q, t_msg *m)
{
	if (q->n && q->bytes + q_cost(m) > QUEUE_CAP)
		return 0;
	if (q->n == q->cap) {
		size_t  cap = q->cap ? q->cap * 2 : 16;
		t_msg **v = malloc(cap * sizeof(*v));
		if (!v)
			fatal();
		for (size_t i = 0; i < q->n; i++)
			v[i] = q->v[(q->head + i) & (q->cap - 1)];
		free(q->v);
		q->v = v;
		q->cap = cap;
		q->head = 0;
	}
	q->v[(q->head + q->n) & (q->cap - 1)] = m;
	q->n++;
	q->bytes += q_cost(m);
	m->refs++;
	return 1;
}

static void q_pop(t_outq *q)
{
	t_msg *m = q->v[q->head];
	q->bytes -= q_cost(m);
	q->head = (q->head + 1) & (q->cap - 1);
	q->n--;
	q->off = 0;
	msg_unref(m);
}

static void q_clear(t_outq *q)
{
	while (q->n)
		q_pop(q);
	free(q->v);
	memset(q, 0, sizeof(*q));
}

/* ------------------------------------------------------------ messages */

/* one shared message for every client but `except`; a client whose queue
 * is full misses it (whole: a message is never cut) */
static void broadcast(t_server *s, int except, const char *pre, size_t plen,
                      const char *line, size_t llen)
{
	t_msg *m = malloc(sizeof(*m) + plen + llen);
	if (!m)
		fatal();
	m->refs = 1; /* ours, while we hand it out */
	m->len = plen + llen;
	memcpy(m->data, pre, plen);
	memcpy(m->data + plen, line, llen);
	for (int fd = 0; fd <= s->maxfd; fd++)
		if (s->cl[fd] && fd != except)
			q_push(&s->cl[fd]->q, m);
	msg_unref(m);
}

static void server_line(t_server *s, int except, const char *fmt, int id)
{
	char buf[64];
	int  n = snprintf(buf, sizeof(buf), fmt, id);
	broadcast(s, except, buf, (size_t)n, "", 0);
}

/* ------------------------------------------------------------ clients */

void client_add(t_server *s, int fd)
{
	t_client *c = calloc(1, sizeof(*c));
	if (!c)
		fatal();
	c->id = s->next_id++;
	s->cl[fd] = c;
	if (fd > s->maxfd)
		s->maxfd = fd;
	server_line(s, fd, "server: client %d just arrived\n", c->id);
}

static void client_free(t_server *s, int fd)
{
	t_client *c = s->cl[fd];
	close(fd);
	q_clear(&c->q);
	free(c->in);
	free(c);
	s->cl[fd] = NULL;
	while (s->maxfd >= 0 && !s->cl[s->maxfd])
		s->maxfd--;
}

void client_remove(t_server *s, int fd)
{
	int id = s->cl[fd]->id;
	client_free(s, fd);
	s->accept_paused = 0; /* a descriptor is free again */
	server_line(s, -1, "server: client %d just left\n", id);
}

void server_close_all(t_server *s)
{
	for (int fd = 0; fd <= s->maxfd; fd++)
		if (s->cl[fd])
			client_free(s, fd);
	close(s->listen_fd);
}

int client_read(t_server *s, int fd)
{
	t_client *c = s->cl[fd];

	if (c->in_cap - c->in_len < RECV_MIN) {
		size_t cap = c->in_cap ? c->in_cap : 2 * RECV_MIN;
		while (cap - c->in_len < RECV_MIN)
			cap *= 2;
		char *p = realloc(c->in, cap);
		if (!p)
			fatal();
		c->in = p;
		c->in_cap = cap;
	}
	ssize_t r = recv(fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
	if (r < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
	if (r == 0)
		return -1; /* an unfinished line is dropped with its client */
	c->in_len += (size_t)r;

	char   pre[32];
	int    plen = snprintf(pre, sizeof(pre), "client %d: ", c->id);
	size_t start = 0;
	char  *nl;
	while ((nl = memchr(c->in + c->scanned, '\n', c->in_len - c->scanned))) {
		size_t end = (size_t)(nl - c->in) + 1;
		if (c->discarding)
			c->discarding = 0;
		else if (end - start <= MAX_LINE)
			broadcast(s, fd, pre, (size_t)plen, c->in + start, end - start);
		start = c->scanned = end;
	}
	if (c->discarding || c->in_len - start > MAX_LINE) {
		c->discarding = 1;
		start = c->in_len;
	}
	memmove(c->in, c->in + start, c->in_len - start);
	c->in_len -= start;
	c->scanned = c->in_len;
	if (!c->in_len && c->in_cap > KEEP_CAP) {
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
	return 0;
}

/* select() said fd is writable: sendmsg() batches of up to IOV_BATCH
 * messages until the kernel takes less than offered (its buffer is full)
 * or the queue is empty.
 * No MSG_NOSIGNAL: SIGPIPE is blocked for the whole life of the process
 * (see main.c), so a dead peer only makes sendmsg() fail with EPIPE. */
int client_flush(t_server *s, int fd)
{
	t_outq      *q = &s->cl[fd]->q;
	struct iovec iov[IOV_BATCH];

	while (q->n) {
		size_t k = 0, offered = 0;
		for (; k < q->n && k < IOV_BATCH; k++) {
			t_msg *m = q->v[(q->head + k) & (q->cap - 1)];
			size_t skip = k ? 0 : q->off;
			iov[k].iov_base = m->data + skip;
			iov[k].iov_len = m->len - skip;
			offered += m->len - skip;
		}
		struct msghdr mh;
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = k;
		ssize_t r = sendmsg(fd, &mh, MSG_DONTWAIT);
		if (r < 0)
			return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
		size_t done = (size_t)r;
		while (q->n && done >= q->v[q->head]->len - q->off) {
			done -= q->v[q->head]->len - q->off;
			q_pop(q);
		}
		q->off += done;
		if ((size_t)r < offered)
			break; /* partial: the socket is full, wait for select() */
	}
	if (!q->n && q->cap > 64) {
		free(q->v);
		q->v = NULL;
		q->cap = q->head = 0;
	}
	return 0;
}
