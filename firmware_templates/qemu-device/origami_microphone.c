// The emulated microphone of origami_microphone.h. The file is the microphone's stream: the host (a
// test, a demo) appends PCM while the board runs, as sound arrives at a real one; the board keeps its
// read position and sends each complete window once. Started by what the host writes, not at boot, so
// no window goes out before the gateway has opened the board's serial port.
//
// The window is streamed, not held: 32,000 B of PCM become 42,668 base64 characters in a frame built
// piece by piece (origami_frame_begin/part/end) from 1,536-byte reads, so the board needs 3.5 KiB of
// buffers rather than a 43 KB frame.
#include "origami_microphone.h"

#include <stdio.h>
#include <string.h>

#include "origami_frame.h"
#include "origami_hal.h"
#include "origami_semihost.h"

#define MIC_FILE "origami-microphone.pcm"  // in QEMU's working directory (the board's folder)
#define MIC_RATE 16000u
#define MIC_WINDOW 16000u                 // samples per SAMPLES frame: the KWS model's one second
#define MIC_BYTES (2u * MIC_WINDOW)
#define MIC_POLL_TICKS 2500000u           // 0.1 s of the 25 MHz timer between looks at the file
#define MIC_READ 1536u                    // a multiple of 3: base64 without padding until the last read
#define MODE_READ_BINARY 1u               // "rb"

static int s_file = -1;
static uint32_t s_sent;  // bytes of the file already sent as windows
static uint32_t s_last_look;
static int s_looked;

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static uint32_t base64(const uint8_t* in, uint32_t len, uint8_t* out) {
  uint32_t o = 0;
  for (uint32_t i = 0; i < len; i += 3) {
    uint32_t rest = len - i, v = (uint32_t)in[i] << 16;
    if (rest > 1) v |= (uint32_t)in[i + 1] << 8;
    if (rest > 2) v |= in[i + 2];
    out[o++] = (uint8_t)B64[(v >> 18) & 63u];
    out[o++] = (uint8_t)B64[(v >> 12) & 63u];
    out[o++] = rest > 1 ? (uint8_t)B64[(v >> 6) & 63u] : (uint8_t)'=';
    out[o++] = rest > 2 ? (uint8_t)B64[v & 63u] : (uint8_t)'=';
  }
  return o;
}

static int file_length(void) {
  uint32_t block[1] = {(uint32_t)s_file};
  return origami_qemu_semihost(SYS_FLEN, block);
}

static int read_at(uint32_t offset, uint8_t* out, uint32_t len) {
  uint32_t seek[2] = {(uint32_t)s_file, offset};
  if (origami_qemu_semihost(SYS_SEEK, seek) != 0) return -1;
  uint32_t block[3] = {(uint32_t)s_file, (uint32_t)out, len};
  return origami_qemu_semihost(SYS_READ, block) == 0 ? 0 : -1;  // 0 bytes left unread
}

static void send_window(uint32_t offset) {
  static uint8_t pcm[MIC_READ], text[MIC_READ / 3u * 4u];
  char head[160];
  int n = snprintf(head, sizeof head,
                   "{\"sensor\":\"microphone\",\"rateHz\":%u,\"shape\":[%u,1],\"dtype\":\"int16\","
                   "\"session\":\"qemu-microphone\",\"pcm\":\"",
                   MIC_RATE, MIC_WINDOW);
  if (n <= 0 || (size_t)n >= sizeof head) return;
  static const uint8_t tail[] = "\"}";
  uint32_t encoded = (MIC_BYTES + 2u) / 3u * 4u;
  origami_frame_stream_t f;
  origami_frame_begin(&f, origami_hal_write, ORIGAMI_FRAME_SAMPLES, (uint32_t)n + encoded + 2u);
  origami_frame_part(&f, (const uint8_t*)head, (size_t)n);
  for (uint32_t done = 0; done < MIC_BYTES; done += MIC_READ) {
    uint32_t len = MIC_BYTES - done < MIC_READ ? MIC_BYTES - done : MIC_READ;
    // A failed read mid-frame cannot shorten it (the length is sent): silence fills it, and the
    // window after it is the file's next one.
    if (read_at(offset + done, pcm, len) != 0) memset(pcm, 0, len);
    origami_frame_part(&f, text, base64(pcm, len, text));
  }
  origami_frame_part(&f, tail, 2u);
  origami_frame_end(&f);
}

void origami_microphone_poll(void) {
  uint32_t now = origami_hal_cycles();
  if (s_looked && now - s_last_look < MIC_POLL_TICKS) return;
  s_looked = 1;
  s_last_look = now;
  if (s_file < 0) {
    uint32_t open[3] = {(uint32_t)MIC_FILE, MODE_READ_BINARY, sizeof MIC_FILE - 1u};
    s_file = origami_qemu_semihost(SYS_OPEN, open);
    if (s_file < 0) return;  // no microphone (yet)
  }
  int length = file_length();
  while (length > 0 && (uint32_t)length >= s_sent && (uint32_t)length - s_sent >= MIC_BYTES) {
    send_window(s_sent);
    s_sent += MIC_BYTES;
  }
}
