/* A second translation unit defining the implementation: linking it with
   another one must fail. */
#define TOKENGATE_IMPLEMENTATION
#include "../../tokengate.h"
