#include "shm_pipe.h"

volatile sig_atomic_t	g_sig = 0;

static void	on_sig(int s)
{
	g_sig = s;
}

const char	*ft_check_args(int argc, char **argv, const char *prog)
{
	const char	*why;
	size_t		l;

	why = NULL;
	if (argc < 2)
		why = "NAME is missing";
	else if (argc > 2)
		why = "too many arguments";
	else
	{
		l = strlen(argv[1]);
		if (l == 0 || argv[1][0] != '/')
			why = "NAME must start with /";
		else if (l < 2)
			why = "NAME is just /";
		else if (l > 100)
			why = "NAME too long";
		else if (strchr(argv[1] + 1, '/'))
			why = "NAME holds a second /";
		else if (!strcmp(argv[1], "/.") || !strcmp(argv[1], "/.."))
			why = "NAME is . or ..";
	}
	if (why)
	{
		fprintf(stderr, "usage: %s NAME\n%s: %s\n", prog, prog, why);
		exit(1);
	}
	return (argv[1]);
}

void	ft_signals(void)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sig;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

void	ft_names(t_names *n, const char *name)
{
	snprintf(n->empty, sizeof(n->empty), "%s-empty", name);
	snprintf(n->full, sizeof(n->full), "%s-full", name);
}

void	ft_unlink_all(const char *name, const t_names *n)
{
	shm_unlink(name);
	sem_unlink(n->empty);
	sem_unlink(n->full);
}

/* 0: got it, 1: timeout, -1: interrupted/error */
int	ft_timedwait(sem_t *s)
{
	struct timespec	t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_nsec += 250000000L;
	if (t.tv_nsec >= 1000000000L)
	{
		t.tv_nsec -= 1000000000L;
		t.tv_sec++;
	}
	if (sem_clockwait(s, CLOCK_MONOTONIC, &t) == 0)
		return (0);
	if (errno == ETIMEDOUT)
		return (1);
	return (-1);
}

int	ft_alive(pid_t pid)
{
	if (pid <= 0)
		return (1);
	if (kill(pid, 0) == -1 && errno == ESRCH)
		return (0);
	return (1);
}
