// Origami's portable device core: the serial protocol (docs/serial.md) and verified two-slot model
// updates. A board's main calls origami_core_boot() once, then origami_core_poll() forever.
#ifndef ORIGAMI_CORE_H_
#define ORIGAMI_CORE_H_

#ifdef __cplusplus
extern "C" {
#endif

// Reads the slot metadata, settles an update left pending or on trial, loads the active model.
void origami_core_boot(void);
// Handles every byte the HAL has received.
void origami_core_poll(void);

#ifdef __cplusplus
}
#endif

#endif  // ORIGAMI_CORE_H_
