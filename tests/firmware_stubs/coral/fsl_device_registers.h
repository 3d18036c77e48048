#include "../cmsis/origami_stub_cmsis.h"
