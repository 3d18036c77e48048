// A free-running tick counter (25 MHz) on QEMU's MPS2 boards. Part of Origami's firmware templates.
#ifndef ORIGAMI_TICKS_H_
#define ORIGAMI_TICKS_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void origami_ticks_start(void);
uint32_t origami_ticks(void);  // ticks since origami_ticks_start(), wraps after 2^32

#ifdef __cplusplus
}
#endif

#endif  // ORIGAMI_TICKS_H_
