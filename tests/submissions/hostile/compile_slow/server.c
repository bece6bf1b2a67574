/* Hostile source: a preprocessor that must open bomb.h a billion times. */
#include "bomb.h"

int main(void)
{
    return 0;
}
