// The device core's HAL on QEMU's MPS2 boards: the CMSDK UART, model storage as a region of the
// board's flash map mirrored to a host file through semihosting (so slots survive a reset and a
// restart of QEMU), reset through AIRCR, a cycle counter from the CMSDK timer 0
// (origami_ticks.c). Part of Origami's templates.
#include <string.h>

#include "origami_device_config.h"
#include "origami_hal.h"
#include "origami_semihost.h"
#include "origami_ticks.h"

#define UART0_BASE 0x40004000u
#define UART_DATA (*(volatile uint32_t*)(UART0_BASE + 0x00u))
#define UART_STATE (*(volatile uint32_t*)(UART0_BASE + 0x04u))
#define UART_CTRL (*(volatile uint32_t*)(UART0_BASE + 0x08u))
#define UART_BAUDDIV (*(volatile uint32_t*)(UART0_BASE + 0x10u))
#define UART_TX_FULL 0x1u
#define UART_RX_FULL 0x2u
#define AIRCR (*(volatile uint32_t*)0xE000ED0Cu)

#define MODE_READ_WRITE_BINARY 3u   // "r+b"
#define MODE_CREATE_BINARY 7u       // "w+b"
#define STORAGE_FILE "origami-flash.bin"  // in QEMU's working directory (the board's folder)

extern uint8_t _storage_start[];
extern uint8_t _storage_bytes[];

static int s_file = -1;
static char s_device_id[64] = ORIGAMI_DEFAULT_DEVICE_ID;

int origami_qemu_semihost(uint32_t op, void* block) {
  register uint32_t r0 __asm__("r0") = op;
  register void* r1 __asm__("r1") = block;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return (int)r0;
}

static int file_at(uint32_t offset) {
  uint32_t seek[2] = {(uint32_t)s_file, offset};
  return s_file >= 0 && origami_qemu_semihost(SYS_SEEK, seek) == 0 ? 0 : -1;
}

static int file_write(uint32_t offset, const uint8_t* data, uint32_t len) {
  if (file_at(offset)) return -1;
  uint32_t block[3] = {(uint32_t)s_file, (uint32_t)data, len};
  return origami_qemu_semihost(SYS_WRITE, block) == 0 ? 0 : -1;
}

// The device id is the second semihosting argument (`-semihosting-config ...,arg=origami,arg=ID`),
// so one image serves many emulated boards; only [a-z0-9-] is taken.
static void read_device_id(void) {
  char line[96];
  uint32_t block[2] = {(uint32_t)line, sizeof line};
  if (origami_qemu_semihost(SYS_GET_CMDLINE, block) != 0) return;
  line[sizeof line - 1] = '\0';
  const char* id = strchr(line, ' ');
  if (!id || !id[1]) return;
  ++id;
  size_t n = 0;
  for (; id[n] && id[n] != ' '; ++n)
    if (n >= sizeof s_device_id - 1 || !((id[n] >= 'a' && id[n] <= 'z') || (id[n] >= '0' && id[n] <= '9') || id[n] == '-'))
      return;
  memcpy(s_device_id, id, n);
  s_device_id[n] = '\0';
}

static void open_storage(void) {
  uint32_t bytes = (uint32_t)_storage_bytes;
  memset(_storage_start, 0xFF, bytes);  // erased flash until the file says otherwise
  uint32_t open_existing[3] = {(uint32_t)STORAGE_FILE, MODE_READ_WRITE_BINARY, sizeof STORAGE_FILE - 1};
  s_file = origami_qemu_semihost(SYS_OPEN, open_existing);
  if (s_file >= 0) {
    uint32_t read[3] = {(uint32_t)s_file, (uint32_t)_storage_start, bytes};
    origami_qemu_semihost(SYS_READ, read);  // a shorter file leaves the rest erased
    return;
  }
  uint32_t create[3] = {(uint32_t)STORAGE_FILE, MODE_CREATE_BINARY, sizeof STORAGE_FILE - 1};
  s_file = origami_qemu_semihost(SYS_OPEN, create);
  file_write(0, _storage_start, bytes);
}

void origami_hal_init(void) {
  UART_BAUDDIV = 16u;  // the smallest divisor the CMSDK UART accepts; QEMU ignores the rate
  UART_CTRL = 0x3u;    // TX and RX enabled
  origami_ticks_start();  // 25 MHz; instructions under QEMU's -icount (controller/firmware/qemu.py)
  read_device_id();
  open_storage();
}

uint32_t origami_hal_cycles(void) { return origami_ticks(); }

int origami_hal_read_byte(void) {
  if (!(UART_STATE & UART_RX_FULL)) return -1;
  return (int)(UART_DATA & 0xFFu);
}

void origami_hal_write(const uint8_t* data, size_t len) {
  for (size_t i = 0; i < len; ++i) {
    while (UART_STATE & UART_TX_FULL) {
    }
    UART_DATA = data[i];
  }
}

const uint8_t* origami_hal_storage(void) { return _storage_start; }
uint32_t origami_hal_storage_bytes(void) { return (uint32_t)_storage_bytes; }

int origami_hal_storage_erase(uint32_t offset, uint32_t len) {
  if (offset > (uint32_t)_storage_bytes || len > (uint32_t)_storage_bytes - offset) return -1;
  memset(_storage_start + offset, 0xFF, len);
  return file_write(offset, _storage_start + offset, len);
}

int origami_hal_storage_write(uint32_t offset, const uint8_t* data, uint32_t len) {
  if (offset > (uint32_t)_storage_bytes || len > (uint32_t)_storage_bytes - offset) return -1;
  memcpy(_storage_start + offset, data, len);
  return file_write(offset, _storage_start + offset, len);
}

void origami_hal_reset(void) {
  __asm__ volatile("dsb" ::: "memory");
  AIRCR = 0x05FA0004u;  // SYSRESETREQ
  for (;;) {
  }
}

const char* origami_hal_device_id(void) { return s_device_id; }

// A fault resets the board: during a trial boot that rolls the new model back.
void origami_fault(void) { origami_hal_reset(); }
