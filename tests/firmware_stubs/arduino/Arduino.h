// Stub of the Arduino Mbed core's Arduino.h: Serial (USB CDC), micros, the nRF52840's FICR, CMSIS.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "../cmsis/origami_stub_cmsis.h"
class UsbSerial {
 public:
  void begin(unsigned long baud);
  explicit operator bool();
  int available();
  int read();
  size_t write(const uint8_t* data, size_t len);
};
extern UsbSerial Serial;
unsigned long micros(void);
typedef struct { volatile uint32_t DEVICEID[2]; } NRF_FICR_Type;
#define NRF_FICR ((NRF_FICR_Type*)0x10000000u)
