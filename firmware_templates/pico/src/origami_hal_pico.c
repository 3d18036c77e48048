// The device core's HAL on the Raspberry Pi Pico (pico-sdk, RP2040): USB CDC stdio in binary mode (no
// LF -> CRLF translation: frames carry arbitrary bytes), model storage at the top of the QSPI flash
// (read in place through XIP, erased and programmed with interrupts off), the microsecond timer
// scaled to the system clock as the cycle counter (the Cortex-M0+ has no DWT), watchdog reset.
// Part of Origami's templates.
#include <stdio.h>

#include "hardware/clocks.h"
#include "hardware/flash.h"
#include "hardware/sync.h"
#include "hardware/watchdog.h"
#include "origami_device_config.h"
#include "origami_flash.h"
#include "origami_hal.h"
#include "pico/stdio_usb.h"
#include "pico/stdlib.h"
#include "pico/unique_id.h"

static char s_device_id[2 * PICO_UNIQUE_BOARD_ID_SIZE_BYTES + 6] = "pico-";
static uint32_t s_cycles_per_us = 125u;

static int in_storage(uint32_t offset, uint32_t len) {
  return offset <= ORIGAMI_STORAGE_BYTES && len <= ORIGAMI_STORAGE_BYTES - offset;
}

// Flash is not readable through XIP while it is erased or programmed: nothing may run from it meanwhile.
static int program(uint32_t offset, const uint8_t* data, uint32_t len) {
  uint32_t interrupts = save_and_disable_interrupts();
  flash_range_program(ORIGAMI_STORAGE_OFFSET + offset, data, len);
  restore_interrupts(interrupts);
  return 0;
}

void origami_hal_init(void) {
  stdio_usb_init();
  stdio_set_translate_crlf(&stdio_usb, false);  // binary frames: a 0x0A byte must stay one byte
  pico_get_unique_board_id_string(s_device_id + 5, sizeof s_device_id - 5);
  s_cycles_per_us = clock_get_hz(clk_sys) / 1000000u;
}

int origami_hal_read_byte(void) {
  int c = getchar_timeout_us(0);
  return c == PICO_ERROR_TIMEOUT ? -1 : (c & 0xFF);
}

void origami_hal_write(const uint8_t* data, size_t len) {
  for (size_t i = 0; i < len; ++i) putchar_raw(data[i]);  // raw: never translated, whatever stdio's mode
  stdio_flush();
}

const uint8_t* origami_hal_storage(void) { return (const uint8_t*)(XIP_BASE + ORIGAMI_STORAGE_OFFSET); }

uint32_t origami_hal_storage_bytes(void) { return ORIGAMI_STORAGE_BYTES; }

int origami_hal_storage_erase(uint32_t offset, uint32_t len) {
  if (!in_storage(offset, len) || offset % FLASH_SECTOR_SIZE || len % FLASH_SECTOR_SIZE) return -1;
  uint32_t interrupts = save_and_disable_interrupts();
  flash_range_erase(ORIGAMI_STORAGE_OFFSET + offset, len);
  restore_interrupts(interrupts);
  return 0;
}

int origami_hal_storage_write(uint32_t offset, const uint8_t* data, uint32_t len) {
  if (!in_storage(offset, len)) return -1;
  return origami_flash_write(origami_hal_storage(), offset, data, len, FLASH_PAGE_SIZE, program);
}

void origami_hal_reset(void) {
  watchdog_reboot(0, 0, 0);
  for (;;) {
  }
}

uint32_t origami_hal_cycles(void) { return time_us_32() * s_cycles_per_us; }

const char* origami_hal_device_id(void) { return s_device_id; }
