// Stub of pico-sdk's pico/stdlib.h (the parts the HAL uses).
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#define PICO_ERROR_TIMEOUT (-1)
#ifdef __cplusplus
extern "C" {
#endif
int getchar_timeout_us(uint32_t timeout_us);
int putchar_raw(int c);
void stdio_flush(void);
bool stdio_init_all(void);
uint32_t time_us_32(void);
#ifdef __cplusplus
}
#endif
