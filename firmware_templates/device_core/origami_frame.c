// Frame encoder and resynchronising decoder (docs/serial.md). Part of Origami's device core.
#include "origami_frame.h"

#include <string.h>

uint32_t origami_crc32(const uint8_t* data, size_t len, uint32_t crc) {
  // Bitwise IEEE CRC-32 (zlib's): no 1 KiB table in RAM; the link, not the CRC, is the bottleneck.
  crc = ~crc;
  for (size_t i = 0; i < len; ++i) {
    crc ^= data[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

uint32_t origami_get_u32(const uint8_t* p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

void origami_put_u32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static uint16_t header_check(uint8_t type, uint32_t length) {
  uint8_t h[5];
  h[0] = type;
  origami_put_u32(h + 1, length);
  return (uint16_t)(origami_crc32(h, sizeof h, 0) & 0xFFFFu);
}

void origami_frame_begin(origami_frame_stream_t* f, origami_write_fn write, uint8_t type, uint32_t length) {
  uint8_t head[ORIGAMI_FRAME_HEADER];
  uint16_t check = header_check(type, length);
  head[0] = 'O';
  head[1] = 'G';
  head[2] = type;
  origami_put_u32(head + 3, length);
  head[7] = (uint8_t)check;
  head[8] = (uint8_t)(check >> 8);
  f->write = write;
  f->crc = 0;
  write(head, sizeof head);
}

void origami_frame_part(origami_frame_stream_t* f, const uint8_t* data, size_t len) {
  if (!len) return;
  f->crc = origami_crc32(data, len, f->crc);
  f->write(data, len);
}

void origami_frame_end(origami_frame_stream_t* f) {
  uint8_t tail[4];
  origami_put_u32(tail, f->crc);
  f->write(tail, sizeof tail);
}

void origami_frame_send(origami_write_fn write, uint8_t type, const uint8_t* payload, uint32_t length) {
  origami_frame_stream_t f;
  origami_frame_begin(&f, write, type, length);
  origami_frame_part(&f, payload, length);
  origami_frame_end(&f);
}

void origami_decoder_init(origami_decoder_t* dec, uint8_t* buffer, uint32_t max_payload) {
  memset(dec, 0, sizeof *dec);
  dec->buffer = buffer;
  dec->max_payload = max_payload;
  dec->capacity = max_payload + ORIGAMI_FRAME_OVERHEAD;
}

static void drop(origami_decoder_t* dec, uint32_t n) {
  memmove(dec->buffer, dec->buffer + n, dec->used - n);
  dec->used -= n;
  dec->frame_end = 0;
}

// Drop the first byte and everything up to the next 'O' (the next candidate magic).
static void skip_one(origami_decoder_t* dec) {
  uint32_t i = 1;
  while (i < dec->used && dec->buffer[i] != 'O') ++i;
  dec->skipped_bytes += i;
  drop(dec, i);
}

void origami_decoder_feed(origami_decoder_t* dec, uint8_t byte, origami_frame_fn on_frame) {
  if (dec->used >= dec->capacity) skip_one(dec);  // cannot happen with a checked header; stay bounded
  dec->buffer[dec->used++] = byte;
  if (dec->frame_end && dec->used < dec->frame_end) return;  // the body of a frame whose header passed
  for (;;) {
    uint8_t* b = dec->buffer;
    if (dec->used >= 1 && b[0] != 'O') { skip_one(dec); continue; }
    if (dec->used >= 2 && b[1] != 'G') { skip_one(dec); continue; }
    if (dec->used < ORIGAMI_FRAME_HEADER) return;
    uint32_t length = origami_get_u32(b + 3);
    if (!dec->frame_end) {
      uint16_t check = (uint16_t)(b[7] | (b[8] << 8));
      if (length > dec->max_payload || check != header_check(b[2], length)) {
        dec->header_errors++;
        skip_one(dec);
        continue;
      }
      dec->frame_end = ORIGAMI_FRAME_HEADER + length + 4u;
    }
    if (dec->used < dec->frame_end) return;
    const uint8_t* payload = b + ORIGAMI_FRAME_HEADER;
    if (origami_get_u32(payload + length) != origami_crc32(payload, length, 0)) {
      dec->crc_errors++;
      skip_one(dec);
      continue;
    }
    on_frame(b[2], payload, length);
    drop(dec, ORIGAMI_FRAME_HEADER + length + 4u);  // re-scanned bytes may hold the next frame
  }
}
