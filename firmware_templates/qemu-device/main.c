// The emulated board's firmware: the device core over the QEMU HAL. Part of Origami's templates.
#include "origami_core.h"
#include "origami_hal.h"
#include "origami_microphone.h"

int main(void) {
  origami_hal_init();
  origami_core_boot();
  for (;;) {
    origami_core_poll();
    origami_microphone_poll();  // the emulated microphone, when the host feeds it
  }
}
