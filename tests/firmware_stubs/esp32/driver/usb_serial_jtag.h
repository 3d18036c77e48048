// Stub of ESP-IDF 5's driver/usb_serial_jtag.h.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "../freertos/FreeRTOS.h"
typedef int esp_err_t;
typedef struct { uint32_t tx_buffer_size; uint32_t rx_buffer_size; } usb_serial_jtag_driver_config_t;
#define USB_SERIAL_JTAG_DRIVER_CONFIG_DEFAULT() {256, 256}
#ifdef __cplusplus
extern "C" {
#endif
esp_err_t usb_serial_jtag_driver_install(usb_serial_jtag_driver_config_t* config);
int usb_serial_jtag_read_bytes(void* buf, uint32_t length, TickType_t ticks_to_wait);
int usb_serial_jtag_write_bytes(const void* src, size_t size, TickType_t ticks_to_wait);
#ifdef __cplusplus
}
#endif
