/* server.c - minitalk, mandatory part (42 subject): prints its PID, then every message it
 * receives. Each signal is one bit, most significant first: SIGUSR1 = 1, SIGUSR2 = 0.
 * A '\0' ends a message, which is printed followed by a newline. No acknowledgement. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static void	ft_putnbr(int n)
{
	char	c;

	if (n >= 10)
		ft_putnbr(n / 10);
	c = '0' + n % 10;
	write(1, &c, 1);
}

static void	handler(int sig)
{
	static unsigned char	c;
	static int				bits;

	c = (c << 1) | (sig == SIGUSR1);
	bits++;
	if (bits == 8)
	{
		if (c == '\0')
			write(1, "\n", 1);
		else
			write(1, &c, 1);
		c = 0;
		bits = 0;
	}
}

int	main(void)
{
	struct sigaction	sa;

	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	write(1, "PID: ", 5);
	ft_putnbr(getpid());
	write(1, "\n", 1);
	while (1)
		pause();
	return (0);
}
