#include "shm_pipe.h"

static const char	*g_name;
static t_names		g_n;

static void	die(int code)
{
	ft_unlink_all(g_name, &g_n);
	exit(code);
}

static t_seg	*setup(sem_t **empty, sem_t **full)
{
	int		fd;
	t_seg	*seg;

	ft_unlink_all(g_name, &g_n);
	fd = shm_open(g_name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		return (perror("writer: shm_open"), NULL);
	if (ftruncate(fd, SEG_SIZE) < 0)
		return (perror("writer: ftruncate"), NULL);
	seg = mmap(NULL, SEG_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (seg == MAP_FAILED)
		return (perror("writer: mmap"), NULL);
	*empty = sem_open(g_n.empty, O_CREAT | O_EXCL, 0600, NSLOTS);
	*full = sem_open(g_n.full, O_CREAT | O_EXCL, 0600, 0);
	if (*empty == SEM_FAILED || *full == SEM_FAILED)
		return (perror("writer: sem_open"), NULL);
	seg->writer_pid = getpid();
	atomic_store(&seg->ready, MAGIC);
	return (seg);
}

static void	wait_room(t_seg *seg, sem_t *empty)
{
	int	r;

	while (1)
	{
		r = ft_timedwait(empty);
		if (r == 0)
			return ;
		if (g_sig)
			die(128 + g_sig);
		if (atomic_load(&seg->reader_failed))
			die(1);
		if (r == 1 && !ft_alive(atomic_load(&seg->reader_pid)))
		{
			fprintf(stderr, "writer: reader died\n");
			die(1);
		}
		if (r < 0 && errno != EINTR)
			die(1);
	}
}

int	main(int argc, char **argv)
{
	t_seg		*seg;
	sem_t		*empty;
	sem_t		*full;
	unsigned	w;
	ssize_t		r;

	g_name = ft_check_args(argc, argv, "writer");
	ft_names(&g_n, g_name);
	ft_signals();
	seg = setup(&empty, &full);
	if (!seg)
		die(1);
	w = 0;
	while (1)
	{
		wait_room(seg, empty);
		r = -1;
		while (r < 0)
		{
			r = read(0, seg->slots[w].data, SLOT_DATA);
			if (r < 0 && errno == EINTR && g_sig)
				die(128 + g_sig);
			if (r < 0 && errno != EINTR)
				die(1);
		}
		seg->slots[w].len = (uint32_t)r;
		sem_post(full);
		if (r == 0)
		{
			atomic_store(&seg->writer_done, 1);
			return (0);
		}
		w = (w + 1) % NSLOTS;
	}
}
