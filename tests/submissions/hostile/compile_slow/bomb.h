/* Included twice per level: 2^30 inclusions in all. */
#if __INCLUDE_LEVEL__ < 30
#include "bomb.h"
#include "bomb.h"
#endif
