#ifndef SHM_PIPE_H
# define SHM_PIPE_H
# define _GNU_SOURCE
# include <errno.h>
# include <fcntl.h>
# include <semaphore.h>
# include <signal.h>
# include <stdatomic.h>
# include <stdint.h>
# include <stdio.h>
# include <stdlib.h>
# include <string.h>
# include <sys/mman.h>
# include <sys/stat.h>
# include <time.h>
# include <unistd.h>

# define SEG_SIZE 65536
# define NSLOTS 16
# define SLOT_DATA 4080
# define MAGIC 0x34324b42u

typedef struct s_slot
{
	uint32_t	len;
	uint32_t	last;
	char		data[SLOT_DATA];
}	t_slot;

typedef struct s_seg
{
	_Atomic uint32_t	ready;
	_Atomic int32_t		writer_pid;
	_Atomic int32_t		reader_pid;
	_Atomic int32_t		reader_failed;
	_Atomic int32_t		writer_done;
	uint32_t			pad[3];
	t_slot				slots[NSLOTS];
}	t_seg;

_Static_assert(sizeof(t_seg) <= SEG_SIZE, "segment too big");

typedef struct s_names
{
	char	empty[128];
	char	full[128];
}	t_names;

extern volatile sig_atomic_t	g_sig;

const char	*ft_check_args(int argc, char **argv, const char *prog);
void		ft_signals(void);
void		ft_names(t_names *n, const char *name);
void		ft_unlink_all(const char *name, const t_names *n);
int			ft_timedwait(sem_t *s);
int			ft_alive(pid_t pid);

#endif
