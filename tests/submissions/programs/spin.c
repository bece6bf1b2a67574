/* Burns CPU forever: only the CPU time limit or a signal ends it. */
int main(void)
{
    volatile unsigned long n = 0;
    for (;;)
        n++;
}
