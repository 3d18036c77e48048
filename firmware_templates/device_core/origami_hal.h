// What the device core needs from a board: a byte stream to the gateway, memory-mapped storage it
// can erase and write (a metadata page and two model slots), a reset, a cycle counter and an id.
// One implementation per target (firmware_templates/qemu/origami_hal_qemu.c for the emulated boards).
#ifndef ORIGAMI_HAL_H_
#define ORIGAMI_HAL_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void origami_hal_init(void);
int origami_hal_read_byte(void);  // the next received byte, or -1 when none is waiting
void origami_hal_write(const uint8_t* data, size_t len);
// The storage area, readable in place (models run from it like from flash), and its size.
const uint8_t* origami_hal_storage(void);
uint32_t origami_hal_storage_bytes(void);
// 0 on success. Offsets are relative to the storage area; erase sets bytes to 0xFF.
int origami_hal_storage_erase(uint32_t offset, uint32_t len);
int origami_hal_storage_write(uint32_t offset, const uint8_t* data, uint32_t len);
void origami_hal_reset(void) __attribute__((noreturn));
uint32_t origami_hal_cycles(void);  // free-running, wraps
const char* origami_hal_device_id(void);

#ifdef __cplusplus
}
#endif

#endif  // ORIGAMI_HAL_H_
