/* Writes through a null pointer: killed by SIGSEGV. */
int main(void)
{
    *(volatile int *)0 = 1;
    return 0;
}
