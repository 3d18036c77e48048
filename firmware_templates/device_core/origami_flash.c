// Flash writes of any offset and length over a page-programming driver. Part of Origami's device core.
#include "origami_flash.h"

#include <string.h>

int origami_flash_write(const uint8_t* mapped, uint32_t offset, const uint8_t* data, uint32_t len,
                        uint32_t page, origami_program_fn program) {
  static uint8_t buffer[ORIGAMI_FLASH_PAGE_MAX];
  if (page == 0 || page > ORIGAMI_FLASH_PAGE_MAX || (page & (page - 1u)) != 0) return -1;
  while (len > 0) {
    uint32_t start = offset & ~(page - 1u);
    uint32_t skip = offset - start;
    uint32_t n = page - skip < len ? page - skip : len;
    // Bytes outside the write keep what the region holds: programming the same value again is a no-op
    // on NOR flash, and an erased byte (0xFF) stays erased.
    memcpy(buffer, mapped + start, page);
    memcpy(buffer + skip, data, n);
    if (program(start, buffer, page)) return -1;
    offset += n;
    data += n;
    len -= n;
  }
  return 0;
}
