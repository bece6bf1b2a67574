/* mini_serv, "pselect + signal mask" design: argument, listening socket,
 * signals, and the pselect() loop. */
#include "mini_serv.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop;
static t_server              g_srv;

static void on_stop(int sig)
{
	g_stop = sig;
}

static int open_listener(const char *arg)
{
	char *end;
	long  port = strtol(arg, &end, 10);
	if (end == arg || *end || port < 1 || port > 65535)
		fatal();

	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* 127.0.0.1, never INADDR_ANY */
	sa.sin_port = htons((unsigned short)port);

	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || fd >= FD_SETSIZE)
		fatal();
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, SOMAXCONN) < 0)
		fatal();
	return fd;
}

/* SIGPIPE, SIGINT and SIGTERM are blocked all the time; pselect() lets
 * SIGINT and SIGTERM (not SIGPIPE) in while it waits, and only then. */
static void setup_signals(sigset_t *waitmask)
{
	sigset_t blocked;
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGPIPE);
	sigaddset(&blocked, SIGINT);
	sigaddset(&blocked, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &blocked, waitmask) < 0)
		fatal();
	sigaddset(waitmask, SIGPIPE);
	sigdelset(waitmask, SIGINT);
	sigdelset(waitmask, SIGTERM);

	int sigs[2] = {SIGINT, SIGTERM};
	for (int i = 0; i < 2; i++) {
		struct sigaction sa, old;
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue; /* started with it ignored (nohup, `&`): keep it so */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_stop;
		sigemptyset(&sa.sa_mask);
		sigaction(sigs[i], &sa, NULL);
	}
}

static void accept_one(t_server *s)
{
	int fd = accept(s->listen_fd, NULL, NULL);
	if (fd < 0) {
		/* out of descriptors: the connection stays in the backlog; stop
		 * watching the listening socket (it would stay readable and
		 * pselect() would spin) until a client leaves */
		if (errno == EMFILE || errno == ENFILE)
			s->accept_paused = 1;
		return;
	}
	if (fd >= FD_SETSIZE || fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		close(fd);
		return;
	}
	client_add(s, fd);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		write(2, "Wrong number of arguments\n", 26);
		return 1;
	}
	t_server *s = &g_srv;
	s->maxfd = -1;
	s->listen_fd = open_listener(argv[1]);

	sigset_t waitmask;
	setup_signals(&waitmask);

	while (!g_stop) {
		fd_set rd, wr;
		int    top = s->listen_fd > s->maxfd ? s->listen_fd : s->maxfd;

		FD_ZERO(&rd);
		FD_ZERO(&wr);
		if (!s->accept_paused)
			FD_SET(s->listen_fd, &rd);
		for (int fd = 0; fd <= s->maxfd; fd++)
			if (s->cl[fd]) {
				FD_SET(fd, &rd);
				if (s->cl[fd]->q.n)
					FD_SET(fd, &wr);
			}
		if (pselect(top + 1, &rd, &wr, NULL, NULL, &waitmask) < 0)
			continue; /* EINTR: g_stop is checked */
		for (int fd = 0; fd <= s->maxfd; fd++)
			if (s->cl[fd] && FD_ISSET(fd, &wr) && client_flush(s, fd) < 0)
				client_remove(s, fd);
		for (int fd = 0; fd <= s->maxfd; fd++)
			if (s->cl[fd] && FD_ISSET(fd, &rd) && client_read(s, fd) < 0)
				client_remove(s, fd);
		if (FD_ISSET(s->listen_fd, &rd))
			accept_one(s);
	}
	server_close_all(s);
	return 0;
}
