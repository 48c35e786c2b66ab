/* impl.c - the one translation unit that compiles the implementation
   (with the monitor, which tests/test_monitor.c drives). */
#define TOKENGATE_IMPLEMENTATION
#define TOKENGATE_MONITOR
#include "../tokengate.h"
