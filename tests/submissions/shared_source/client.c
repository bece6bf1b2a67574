#include <stdio.h>

#include "common.h"

int main(void)
{
    puts(greeting("client"));
    return 0;
}
