/* Hostile server: never listens, never exits, never uses the CPU. */
#include <unistd.h>

int main(void)
{
    for (;;)
        pause();
}
