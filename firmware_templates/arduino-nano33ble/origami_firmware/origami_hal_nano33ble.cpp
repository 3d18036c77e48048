// The device core's HAL on the Arduino Nano 33 BLE Sense (Arduino Mbed OS core, nRF52840): USB CDC
// serial (binary-clean), model storage at the top of the internal flash through Mbed's FlashIAP
// (memory-mapped for reading, so models run in place), the DWT cycle counter, NVIC reset, the FICR id.
// Part of Origami's templates.
#include <Arduino.h>
#include <FlashIAP.h>

#include "origami_device_config.h"
#include "origami_flash.h"
#include "origami_hal.h"

namespace {
mbed::FlashIAP flash;
uint32_t program_unit = 4;  // the nRF52840 programs 32-bit words; FlashIAP says so at init
char device_id[40];

int program(uint32_t offset, const uint8_t* data, uint32_t len) {
  return flash.program(data, flash.get_flash_start() + ORIGAMI_STORAGE_OFFSET + offset, len) == 0 ? 0 : -1;
}

bool in_storage(uint32_t offset, uint32_t len) {
  return offset <= ORIGAMI_STORAGE_BYTES && len <= ORIGAMI_STORAGE_BYTES - offset;
}
}  // namespace

extern "C" void origami_hal_init(void) {
  Serial.begin(ORIGAMI_SERIAL_BAUD);  // USB CDC: the baud rate is nominal, bytes pass untranslated
  while (!Serial) {
  }
  flash.init();
  program_unit = flash.get_page_size();
  CoreDebug->DEMCR |= CoreDebug_DEMCR_TRCENA_Msk;
  DWT->CYCCNT = 0;
  DWT->CTRL |= DWT_CTRL_CYCCNTENA_Msk;
  snprintf(device_id, sizeof device_id, "nano33ble-%08lx%08lx", (unsigned long)NRF_FICR->DEVICEID[1],
           (unsigned long)NRF_FICR->DEVICEID[0]);
}

extern "C" int origami_hal_read_byte(void) { return Serial.available() > 0 ? Serial.read() : -1; }

extern "C" void origami_hal_write(const uint8_t* data, size_t len) { Serial.write(data, len); }

extern "C" const uint8_t* origami_hal_storage(void) {
  return reinterpret_cast<const uint8_t*>(flash.get_flash_start() + ORIGAMI_STORAGE_OFFSET);
}

extern "C" uint32_t origami_hal_storage_bytes(void) { return ORIGAMI_STORAGE_BYTES; }

extern "C" int origami_hal_storage_erase(uint32_t offset, uint32_t len) {
  if (!in_storage(offset, len)) return -1;
  return flash.erase(flash.get_flash_start() + ORIGAMI_STORAGE_OFFSET + offset, len) == 0 ? 0 : -1;
}

extern "C" int origami_hal_storage_write(uint32_t offset, const uint8_t* data, uint32_t len) {
  if (!in_storage(offset, len)) return -1;
  return origami_flash_write(origami_hal_storage(), offset, data, len, program_unit, program);
}

extern "C" void origami_hal_reset(void) {
  NVIC_SystemReset();
  for (;;) {
  }
}

extern "C" uint32_t origami_hal_cycles(void) { return DWT->CYCCNT; }

extern "C" const char* origami_hal_device_id(void) { return device_id; }
