#include "shm_pipe.h"

static const char	*g_name;
static t_names		g_n;
static int			g_attached;

static void	die(int code)
{
	if (g_attached)
		ft_unlink_all(g_name, &g_n);
	exit(code);
}

static t_seg	*try_attach(sem_t **empty, sem_t **full)
{
	int			fd;
	struct stat	st;
	t_seg		*seg;

	fd = shm_open(g_name, O_RDWR, 0);
	if (fd < 0)
		return (NULL);
	if (fstat(fd, &st) < 0 || st.st_size != SEG_SIZE)
		return (close(fd), NULL);
	seg = mmap(NULL, SEG_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (seg == MAP_FAILED)
		return (NULL);
	if (atomic_load(&seg->ready) != MAGIC
		|| (!ft_alive(atomic_load(&seg->writer_pid))
			&& !atomic_load(&seg->writer_done)))
		return (munmap(seg, SEG_SIZE), NULL);
	*empty = sem_open(g_n.empty, 0);
	*full = sem_open(g_n.full, 0);
	if (*empty == SEM_FAILED || *full == SEM_FAILED)
	{
		if (*empty != SEM_FAILED)
			sem_close(*empty);
		if (*full != SEM_FAILED)
			sem_close(*full);
		return (munmap(seg, SEG_SIZE), NULL);
	}
	return (seg);
}

static void	wait_data(t_seg *seg, sem_t *full)
{
	int	r;

	while (1)
	{
		r = ft_timedwait(full);
		if (r == 0)
			return ;
		if (g_sig)
			die(128 + g_sig);
		if (r == 1 && !ft_alive(atomic_load(&seg->writer_pid))
			&& !atomic_load(&seg->writer_done))
		{
			if (sem_trywait(full) == 0)
				return ;
			fprintf(stderr, "reader: writer died\n");
			die(1);
		}
		if (r < 0 && errno != EINTR)
			die(1);
	}
}

static void	put_all(t_seg *seg, const char *p, size_t n)
{
	ssize_t	w;

	while (n > 0)
	{
		w = write(1, p, n);
		if (w < 0 && errno == EINTR)
		{
			if (g_sig)
				die(128 + g_sig);
			continue ;
		}
		if (w < 0)
		{
			perror("reader: write");
			atomic_store(&seg->reader_failed, 1);
			die(1);
		}
		p += w;
		n -= (size_t)w;
	}
}

int	main(int argc, char **argv)
{
	t_seg				*seg;
	sem_t				*empty;
	sem_t				*full;
	unsigned			r;
	struct timespec		nap;

	g_name = ft_check_args(argc, argv, "reader");
	ft_names(&g_n, g_name);
	ft_signals();
	nap.tv_sec = 0;
	nap.tv_nsec = 20000000L;
	seg = NULL;
	while (!seg)
	{
		if (g_sig)
			die(128 + g_sig);
		seg = try_attach(&empty, &full);
		if (!seg)
			nanosleep(&nap, NULL);
	}
	atomic_store(&seg->reader_pid, getpid());
	g_attached = 1;
	ft_unlink_all(g_name, &g_n);
	r = 0;
	while (1)
	{
		wait_data(seg, full);
		if (seg->slots[r].last)
			return (0);
		put_all(seg, seg->slots[r].data, strlen(seg->slots[r].data));
		sem_post(empty);
		r = (r + 1) % NSLOTS;
	}
}
