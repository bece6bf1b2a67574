#ifndef MINI_SERV_H
#define MINI_SERV_H

#include <stddef.h>
#include <sys/select.h>

#define QUEUE_CAP ((size_t)4 << 20)  /* bytes a client may have waiting */
#define MSG_COST  32                 /* bookkeeping charged per queued message */
#define MAX_LINE  ((size_t)16 << 20) /* longer lines are dropped whole */
#define RECV_MIN  ((size_t)64 << 10) /* free room before each recv() */
#define KEEP_CAP  ((size_t)64 << 10) /* larger idle input buffers are freed */
#define IOV_BATCH 512                /* messages per sendmsg() */

/* one relayed message ("client N: line\n" or a server line), shared by
 * every queue it sits in: a 1 MiB line is stored once, not once per client */
typedef struct s_msg {
	size_t refs;
	size_t len;
	char   data[];
} t_msg;

/* a client's output: a circular array of message references */
typedef struct s_outq {
	t_msg **v;
	size_t  cap;   /* 0 or a power of two */
	size_t  head;
	size_t  n;
	size_t  off;   /* bytes of v[head] already sent */
	size_t  bytes; /* what the queued messages cost, for QUEUE_CAP */
} t_outq;

typedef struct s_client {
	int    id;
	int    discarding; /* inside a line longer than MAX_LINE */
	char  *in;         /* unfinished line */
	size_t in_len, in_cap, scanned;
	t_outq q;
} t_client;

typedef struct s_server {
	int       listen_fd;
	int       maxfd;
	int       next_id;
	int       accept_paused; /* out of descriptors: wait for a departure */
	t_client *cl[FD_SETSIZE];
} t_server;

/* chat.c */
void fatal(void);
void client_add(t_server *s, int fd);
void client_remove(t_server *s, int fd);
int  client_read(t_server *s, int fd);  /* -1: the client is gone */
int  client_flush(t_server *s, int fd); /* -1: the client is gone */
void server_close_all(t_server *s);

#endif
