// A bounded, strict JSON scanner for the few documents a board reads (the signed manifest): it finds
// members by name and reads plain strings and unsigned integers. It never allocates, refuses nesting
// deeper than ORIGAMI_JSON_MAX_DEPTH, duplicate keys, escapes in keys and anything that is not JSON.
// Part of Origami's device core.
#ifndef ORIGAMI_JSON_H_
#define ORIGAMI_JSON_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ORIGAMI_JSON_MAX_DEPTH 8

typedef struct {
  const char* at;
  uint32_t len;
} origami_span_t;

enum { ORIGAMI_JSON_OK = 0, ORIGAMI_JSON_MISSING = -1, ORIGAMI_JSON_MALFORMED = -2 };

// The raw bytes of member `key`'s value in the object that is all of `doc` (whitespace around it
// allowed). MALFORMED when `doc` is not exactly one valid object or has `key` twice.
int origami_json_member(origami_span_t doc, const char* key, origami_span_t* value);
// A JSON string of printable ASCII without escapes, copied NUL-terminated into `out` (≤ cap - 1
// characters): its length, or -1 when it is not such a string or is too long.
int origami_json_string(origami_span_t value, char* out, uint32_t cap);
// An unsigned integer without sign, fraction or exponent that fits in 32 bits: 0, or -1.
int origami_json_uint(origami_span_t value, uint32_t* out);
int origami_json_is_null(origami_span_t value);

// Standard base64 with padding into `out`: the decoded length, or -1 when malformed or > cap.
int origami_base64_decode(const char* text, uint32_t len, uint8_t* out, uint32_t cap);

#ifdef __cplusplus
}
#endif

#endif  // ORIGAMI_JSON_H_
