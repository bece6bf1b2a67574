#include "common.h"

#include <stdio.h>

const char *greeting(const char *who)
{
    static char text[64];
    snprintf(text, sizeof text, "hello from %s", who);
    return text;
}
