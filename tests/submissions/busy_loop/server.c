/* Hostile server: spins forever before ever listening. The CPU time limit stops it. */
int main(void)
{
    volatile unsigned long spins = 0;
    for (;;)
        spins++;
}
