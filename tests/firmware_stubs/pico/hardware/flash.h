// Stub of pico-sdk's hardware/flash.h (and XIP_BASE from hardware/regs/addressmap.h).
#pragma once
#include <stddef.h>
#include <stdint.h>
#define XIP_BASE 0x10000000u
#define FLASH_PAGE_SIZE (1u << 8)
#define FLASH_SECTOR_SIZE (1u << 12)
void flash_range_erase(uint32_t flash_offs, size_t count);
void flash_range_program(uint32_t flash_offs, const uint8_t* data, size_t count);
