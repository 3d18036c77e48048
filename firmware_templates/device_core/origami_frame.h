// The framed serial protocol of docs/serial.md: "OG" | type u8 | length u32le | header check u16le |
// payload | crc32(payload) u32le. Part of Origami's device core (portable C, no allocation).
#ifndef ORIGAMI_FRAME_H_
#define ORIGAMI_FRAME_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  ORIGAMI_FRAME_HELLO = 1,
  ORIGAMI_FRAME_STATE = 2,
  ORIGAMI_FRAME_MANIFEST = 3,
  ORIGAMI_FRAME_CHUNK = 4,
  ORIGAMI_FRAME_CHUNK_ACK = 5,
  ORIGAMI_FRAME_SAMPLES = 6,
  ORIGAMI_FRAME_EVENT = 7,
  ORIGAMI_FRAME_QUERY = 8,
  ORIGAMI_FRAME_INFER = 9,
  ORIGAMI_FRAME_INFER_RESULT = 10,
  ORIGAMI_FRAME_INFER_AUDIO = 11,
};

enum {
  ORIGAMI_ACK_OK = 0,
  ORIGAMI_ACK_RESEND = 1,
  ORIGAMI_ACK_REFUSED = 2,
  ORIGAMI_ACK_INSTALLED = 3,
  ORIGAMI_ACK_ROLLED_BACK = 4,
};

#define ORIGAMI_FRAME_HEADER 9u
#define ORIGAMI_FRAME_OVERHEAD 13u

uint32_t origami_crc32(const uint8_t* data, size_t len, uint32_t crc);
uint32_t origami_get_u32(const uint8_t* p);
void origami_put_u32(uint8_t* p, uint32_t v);

// Writes the frame's three parts through `write` (header, payload, crc): no copy of the payload.
typedef void (*origami_write_fn)(const uint8_t* data, size_t len);
void origami_frame_send(origami_write_fn write, uint8_t type, const uint8_t* payload, uint32_t length);

// A frame whose payload is produced piece by piece (a second of PCM as base64 is larger than the RAM
// to spare): begin with the payload's length, send pieces adding up to exactly it, end with the CRC.
typedef struct {
  origami_write_fn write;
  uint32_t crc;
} origami_frame_stream_t;
void origami_frame_begin(origami_frame_stream_t* f, origami_write_fn write, uint8_t type, uint32_t length);
void origami_frame_part(origami_frame_stream_t* f, const uint8_t* data, size_t len);
void origami_frame_end(origami_frame_stream_t* f);

typedef void (*origami_frame_fn)(uint8_t type, const uint8_t* payload, uint32_t length);

// Incremental decoder over a caller-owned buffer of `max_payload + ORIGAMI_FRAME_OVERHEAD` bytes.
// A bad header check or CRC drops one byte and re-scans what is buffered for the next "OG".
typedef struct {
  uint8_t* buffer;
  uint32_t capacity;
  uint32_t max_payload;
  uint32_t used;
  uint32_t frame_end;     // bytes of the frame whose header passed; 0 while none
  uint32_t crc_errors;
  uint32_t header_errors;
  uint32_t skipped_bytes;
} origami_decoder_t;

void origami_decoder_init(origami_decoder_t* dec, uint8_t* buffer, uint32_t max_payload);
// Feeds one byte; calls `on_frame` for a complete, intact frame (the payload is valid during the call).
void origami_decoder_feed(origami_decoder_t* dec, uint8_t byte, origami_frame_fn on_frame);

#ifdef __cplusplus
}
#endif

#endif  // ORIGAMI_FRAME_H_
