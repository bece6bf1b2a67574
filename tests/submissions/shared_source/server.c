#include <stdio.h>

#include "common.h"

int main(void)
{
    puts(greeting("server"));
    return 0;
}
