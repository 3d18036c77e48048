// CMSDK APB UART driver (polling) and the few number formats the runner parses, without printf so
// that newlib's stdio stays out of the image. Part of Origami's firmware templates.
#include "origami_uart.h"

#define UART0_BASE 0x40004000u
#define UART_DATA (*(volatile uint32_t*)(UART0_BASE + 0x00u))
#define UART_STATE (*(volatile uint32_t*)(UART0_BASE + 0x04u))
#define UART_CTRL (*(volatile uint32_t*)(UART0_BASE + 0x08u))
#define UART_BAUDDIV (*(volatile uint32_t*)(UART0_BASE + 0x10u))
#define UART_STATE_TX_FULL 0x1u
#define UART_CTRL_TX_RX_ENABLE 0x3u

void origami_uart_init(void) {
  UART_BAUDDIV = 16u;  // the smallest divisor the CMSDK UART accepts; QEMU ignores the rate
  UART_CTRL = UART_CTRL_TX_RX_ENABLE;
}

static void put(char c) {
  while (UART_STATE & UART_STATE_TX_FULL) {
  }
  UART_DATA = (uint32_t)(unsigned char)c;
}

void origami_uart_write(const char* text) {
  while (*text) put(*text++);
}

void origami_uart_write_uint(uint32_t value) {
  char digits[10];
  int n = 0;
  do {
    digits[n++] = (char)('0' + value % 10u);
    value /= 10u;
  } while (value);
  while (n) put(digits[--n]);
}

void origami_uart_write_hex(const uint8_t* bytes, size_t count) {
  static const char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < count; ++i) {
    put(kHex[bytes[i] >> 4]);
    put(kHex[bytes[i] & 0xFu]);
  }
}
