// The CMSDK APB UART of QEMU's MPS2 boards (UART0). Part of Origami's firmware templates.
#ifndef ORIGAMI_UART_H_
#define ORIGAMI_UART_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void origami_uart_init(void);
void origami_uart_write(const char* text);
void origami_uart_write_uint(uint32_t value);
void origami_uart_write_hex(const uint8_t* bytes, size_t count);
void origami_exit(int failed);

#ifdef __cplusplus
}
#endif

#endif  // ORIGAMI_UART_H_
