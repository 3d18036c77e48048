// Flash writes of any offset and length through a driver that programs only whole, aligned pages
// (the RP2040 programs 256 B pages, the nRF52840 4 B words): the HALs' shared, portable part.
// Part of Origami's device core.
#ifndef ORIGAMI_FLASH_H_
#define ORIGAMI_FLASH_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ORIGAMI_FLASH_PAGE_MAX 256u

// Programs `page_len` bytes at `offset` (aligned to and a multiple of the page size): 0 on success.
typedef int (*origami_program_fn)(uint32_t offset, const uint8_t* data, uint32_t page_len);

// Writes `data` at `offset` of a memory-mapped region whose current contents `mapped` shows: every page
// touched is programmed whole, its other bytes as the region holds them (0xFF where erased). -1 when the
// page size is not a power of two up to ORIGAMI_FLASH_PAGE_MAX or the driver fails.
int origami_flash_write(const uint8_t* mapped, uint32_t offset, const uint8_t* data, uint32_t len,
                        uint32_t page, origami_program_fn program);

#ifdef __cplusplus
}
#endif

#endif  // ORIGAMI_FLASH_H_
