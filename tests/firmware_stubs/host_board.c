// The device core's HAL on the host (RAM storage, captured output) and a stand-in runner: what
// tests/test_firmware_boards.py links the real core against. Tests only.
#include <string.h>
#include "origami_core.h"
#include "origami_hal.h"
#include "origami_runner.h"
#define STORE (64u * 1024u)
static uint8_t storage[STORE];
static const uint8_t* rx;
static uint32_t rx_len;
uint8_t out[65536];
uint32_t out_len, outputs_seen;
uint8_t last_output[2];
void test_blank_storage(void) { memset(storage, 0xFF, STORE); }
void test_feed(const uint8_t* data, uint32_t len) { rx = data; rx_len = len; }
void origami_hal_init(void) {}
int origami_hal_read_byte(void) { if (!rx_len) return -1; rx_len--; return *rx++; }
void origami_hal_write(const uint8_t* d, size_t n) { if (out_len + n <= sizeof out) { memcpy(out + out_len, d, n); out_len += n; } }
const uint8_t* origami_hal_storage(void) { return storage; }
uint32_t origami_hal_storage_bytes(void) { return STORE; }
int origami_hal_storage_erase(uint32_t o, uint32_t l) { if (o + l > STORE) return -1; memset(storage + o, 0xFF, l); return 0; }
int origami_hal_storage_write(uint32_t o, const uint8_t* d, uint32_t l) { if (o + l > STORE) return -1; memcpy(storage + o, d, l); return 0; }
void origami_hal_reset(void) { for (;;) {} }
uint32_t origami_hal_cycles(void) { static uint32_t c; return c += 100; }
const char* origami_hal_device_id(void) { return "host-board"; }
static uint8_t output[2];
int origami_runner_load(const uint8_t* m, uint32_t s, const char** why) {
  if (s < 8 || memcmp(m + 4, "TFL3", 4) != 0) { *why = "not a TFLite flatbuffer"; return -1; }
  return 0;
}
int origami_runner_probe(const char** why) { (void)why; return 0; }
uint32_t origami_runner_arena_used(void) { return 123; }
uint32_t origami_runner_arena_bytes(void) { return 2400; }
uint32_t origami_runner_input_bytes(void) { return 4; }
int origami_runner_infer(const uint8_t* in, uint32_t len, const uint8_t** o, uint32_t* ol, const char** why) {
  if (len != 4) { *why = "input size differs"; return -1; }
  output[0] = in[0]; output[1] = in[3]; *o = output; *ol = 2; return 0;
}
void origami_runner_unload(void) {}
void origami_on_output(const uint8_t* o, uint32_t l, uint32_t cycles) {
  (void)cycles; outputs_seen++; memcpy(last_output, o, l < 2 ? l : 2);
}
