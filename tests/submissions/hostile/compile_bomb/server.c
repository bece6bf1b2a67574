/* Hostile source: the preprocessor reads /dev/zero into memory until something stops it. */
#include "/dev/zero"

int main(void)
{
    return 0;
}
