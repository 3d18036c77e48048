// The device core's HAL on the Coral Dev Board Micro (coralmicro SDK, i.MX RT1176 M7 core): the USB
// console as the serial link, model storage as a buffer in SDRAM mirrored to a LittleFS file (read
// back at boot, every erase/write written through and synced, so slots survive a reset), the DWT
// cycle counter, NVIC reset, the board's serial number. Part of Origami's templates.
#include <cstdio>
#include <cstring>

#include "libs/base/console_m7.h"
#include "libs/base/filesystem.h"
#include "fsl_device_registers.h"  // CMSIS core_cm7.h: DWT, CoreDebug, NVIC_SystemReset
#include "libs/base/utils.h"
#include "origami_device_config.h"
#include "origami_hal.h"

namespace {
constexpr char kStorageFile[] = "/origami-flash.bin";
// In the external SDRAM: the storage is larger than the on-chip RAM.
__attribute__((section(".sdram_bss,\"aw\",%nobits @"))) __attribute__((aligned(16)))
uint8_t storage[ORIGAMI_STORAGE_BYTES];
lfs_file_t file;
bool file_open = false;
char device_id[48];

bool in_storage(uint32_t offset, uint32_t len) {
  return offset <= ORIGAMI_STORAGE_BYTES && len <= ORIGAMI_STORAGE_BYTES - offset;
}

int mirror(uint32_t offset, uint32_t len) {
  if (!file_open || lfs_file_seek(coralmicro::Lfs(), &file, offset, LFS_SEEK_SET) < 0) return -1;
  if (lfs_file_write(coralmicro::Lfs(), &file, storage + offset, len) != static_cast<lfs_ssize_t>(len)) return -1;
  return lfs_file_sync(coralmicro::Lfs(), &file) < 0 ? -1 : 0;
}
}  // namespace

extern "C" void origami_hal_init(void) {
  memset(storage, 0xFF, sizeof storage);  // erased until the file says otherwise
  file_open = lfs_file_open(coralmicro::Lfs(), &file, kStorageFile, LFS_O_RDWR | LFS_O_CREAT) >= 0;
  if (file_open) lfs_file_read(coralmicro::Lfs(), &file, storage, sizeof storage);  // a shorter file: rest erased
  CoreDebug->DEMCR |= CoreDebug_DEMCR_TRCENA_Msk;
  DWT->CYCCNT = 0;
  DWT->CTRL |= DWT_CTRL_CYCCNTENA_Msk;
  snprintf(device_id, sizeof device_id, "coral-micro-%s", coralmicro::GetSerialNumber().c_str());
}

extern "C" int origami_hal_read_byte(void) {
  char c;
  return coralmicro::ConsoleM7::GetSingleton()->Read(&c, 1) == 1 ? static_cast<uint8_t>(c) : -1;
}

extern "C" void origami_hal_write(const uint8_t* data, size_t len) {
  coralmicro::ConsoleM7::GetSingleton()->Write(reinterpret_cast<const char*>(data), static_cast<int>(len));
}

extern "C" const uint8_t* origami_hal_storage(void) { return storage; }

extern "C" uint32_t origami_hal_storage_bytes(void) { return ORIGAMI_STORAGE_BYTES; }

extern "C" int origami_hal_storage_erase(uint32_t offset, uint32_t len) {
  if (!in_storage(offset, len)) return -1;
  memset(storage + offset, 0xFF, len);
  return mirror(offset, len);
}

extern "C" int origami_hal_storage_write(uint32_t offset, const uint8_t* data, uint32_t len) {
  if (!in_storage(offset, len)) return -1;
  memcpy(storage + offset, data, len);
  return mirror(offset, len);
}

extern "C" void origami_hal_reset(void) {
  if (file_open) lfs_file_close(coralmicro::Lfs(), &file);
  NVIC_SystemReset();
  for (;;) {
  }
}

extern "C" uint32_t origami_hal_cycles(void) { return DWT->CYCCNT; }

extern "C" const char* origami_hal_device_id(void) { return device_id; }
