// Stub of Mbed OS's FlashIAP (drivers/FlashIAP.h).
#pragma once
#include <stdint.h>
namespace mbed {
class FlashIAP {
 public:
  int init();
  int deinit();
  int read(void* buffer, uint32_t addr, uint32_t size);
  int program(const void* buffer, uint32_t addr, uint32_t size);
  int erase(uint32_t addr, uint32_t size);
  uint32_t get_page_size() const;
  uint32_t get_sector_size(uint32_t addr) const;
  uint32_t get_flash_start() const;
  uint32_t get_flash_size() const;
};
}  // namespace mbed
