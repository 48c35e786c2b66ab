/* impl.c - the one translation unit that compiles the implementation. */
#define TOKENGATE_IMPLEMENTATION
#include "../tokengate.h"
