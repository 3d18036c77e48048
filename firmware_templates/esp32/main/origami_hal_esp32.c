// The device core's HAL on the ESP32-S3 (ESP-IDF 5): the USB Serial/JTAG port (binary, no line
// discipline), model storage in the `origami` data partition (partitions.csv), memory-mapped for
// reading so models run in place and written with esp_partition_erase_range/write (the flash driver
// keeps the mapping coherent), the CPU cycle counter, esp_restart. Part of Origami's templates.
#include <stdio.h>

#include "driver/usb_serial_jtag.h"
#include "esp_cpu.h"
#include "esp_mac.h"
#include "esp_partition.h"
#include "esp_system.h"
#include "freertos/FreeRTOS.h"
#include "origami_device_config.h"
#include "origami_hal.h"

#define ORIGAMI_PARTITION_SUBTYPE 0x40  // partitions.csv: origami, data, 0x40

static const esp_partition_t* s_partition;
static const uint8_t* s_mapped;
static esp_partition_mmap_handle_t s_map;
static char s_device_id[24];

static int in_storage(uint32_t offset, uint32_t len) {
  return s_partition && offset <= ORIGAMI_STORAGE_BYTES && len <= ORIGAMI_STORAGE_BYTES - offset;
}

void origami_hal_init(void) {
  usb_serial_jtag_driver_config_t config = USB_SERIAL_JTAG_DRIVER_CONFIG_DEFAULT();
  config.rx_buffer_size = ORIGAMI_MAX_PAYLOAD + 64;
  usb_serial_jtag_driver_install(&config);
  s_partition = esp_partition_find_first(ESP_PARTITION_TYPE_DATA, (esp_partition_subtype_t)ORIGAMI_PARTITION_SUBTYPE,
                                         "origami");
  const void* mapped = NULL;
  if (s_partition && s_partition->size >= ORIGAMI_STORAGE_BYTES &&
      esp_partition_mmap(s_partition, 0, ORIGAMI_STORAGE_BYTES, ESP_PARTITION_MMAP_DATA, &mapped, &s_map) == ESP_OK) {
    s_mapped = (const uint8_t*)mapped;
  } else {
    s_partition = NULL;  // no storage: every update fails with StorageFailed, the state says no model
  }
  uint8_t mac[6];
  esp_efuse_mac_get_default(mac);
  snprintf(s_device_id, sizeof s_device_id, "esp32-%02x%02x%02x%02x%02x%02x", mac[0], mac[1], mac[2], mac[3],
           mac[4], mac[5]);
}

int origami_hal_read_byte(void) {
  uint8_t byte;
  return usb_serial_jtag_read_bytes(&byte, 1, 0) == 1 ? byte : -1;
}

void origami_hal_write(const uint8_t* data, size_t len) { usb_serial_jtag_write_bytes(data, len, portMAX_DELAY); }

const uint8_t* origami_hal_storage(void) {
  static const uint8_t erased[4096] = {0};  // never read as a model: the metadata's magic is absent
  return s_mapped ? s_mapped : erased;
}

uint32_t origami_hal_storage_bytes(void) { return s_mapped ? ORIGAMI_STORAGE_BYTES : 4096u; }

int origami_hal_storage_erase(uint32_t offset, uint32_t len) {
  if (!in_storage(offset, len)) return -1;
  return esp_partition_erase_range(s_partition, offset, len) == ESP_OK ? 0 : -1;
}

int origami_hal_storage_write(uint32_t offset, const uint8_t* data, uint32_t len) {
  if (!in_storage(offset, len)) return -1;
  return esp_partition_write(s_partition, offset, data, len) == ESP_OK ? 0 : -1;
}

void origami_hal_reset(void) {
  esp_restart();
}

uint32_t origami_hal_cycles(void) { return (uint32_t)esp_cpu_get_cycle_count(); }

const char* origami_hal_device_id(void) { return s_device_id; }
