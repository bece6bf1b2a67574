/* client.c - minitalk, mandatory part (42 subject): sends argv[2] to the server whose PID is
 * argv[1], one bit per signal (SIGUSR1 = 1, SIGUSR2 = 0), most significant bit first, then a
 * '\0'. No acknowledgement: it sleeps 200 us after each signal and hopes the server kept up. */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static int	ft_atoi_pid(const char *s)
{
	long	n;

	n = 0;
	if (!*s)
		return (-1);
	while (*s >= '0' && *s <= '9')
	{
		n = n * 10 + (*s++ - '0');
		if (n > 2147483647)
			return (-1);
	}
	if (*s || n == 0)
		return (-1);
	return ((int)n);
}

static void	send_char(int pid, unsigned char c)
{
	int	bit;

	bit = 7;
	while (bit >= 0)
	{
		if ((c >> bit) & 1)
			kill(pid, SIGUSR1);
		else
			kill(pid, SIGUSR2);
		usleep(200);
		bit--;
	}
}

int	main(int argc, char **argv)
{
	int		pid;
	int		i;

	if (argc != 3 || (pid = ft_atoi_pid(argv[1])) < 0)
	{
		write(2, "usage: ./client SERVER_PID MESSAGE\n", 35);
		return (1);
	}
	i = 0;
	while (argv[2][i])
		send_char(pid, (unsigned char)argv[2][i++]);
	send_char(pid, '\0');
	return (0);
}
