// Origami's portable device core: the serial protocol (docs/serial.md) and verified two-slot model
// updates. A board's main calls origami_core_boot() once, then origami_core_poll() forever.
#ifndef ORIGAMI_CORE_H_
#define ORIGAMI_CORE_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Optional, before origami_core_boot(): a model compiled into the firmware (a rendered project's
// model_data). It goes through the same trial as an update (slot, probe, confirm or roll back) when
// the storage holds no model, or once after flashing a firmware whose model differs from the last one.
void origami_core_set_factory_model(const uint8_t* model, uint32_t size, const char* version);
// Reads the slot metadata, settles an update left pending or on trial, loads the active model.
void origami_core_boot(void);
// Handles every byte the HAL has received.
void origami_core_poll(void);
// Runs the active model on `input` (exactly the input tensor's bytes; the application's sensor
// window) and hands the output to origami_on_output(): 0, or -1 (no healthy model, wrong size).
int origami_core_infer(const uint8_t* input, uint32_t len);
// Called after every inference that succeeded (the application's or the gateway's INFER) with the
// output tensor's raw bytes and the cycles it took. A weak no-op unless the application defines it.
void origami_on_output(const uint8_t* output, uint32_t len, uint32_t cycles);

#ifdef __cplusplus
}
#endif

#endif  // ORIGAMI_CORE_H_
