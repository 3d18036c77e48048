// Stub of pico-sdk's pico/stdio_usb.h and stdio_set_translate_crlf (pico/stdio.h).
#pragma once
#include <stdbool.h>
typedef struct stdio_driver stdio_driver_t;
extern stdio_driver_t stdio_usb;
bool stdio_usb_init(void);
void stdio_set_translate_crlf(stdio_driver_t* driver, bool translate);
