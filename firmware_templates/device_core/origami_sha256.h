// SHA-256 (FIPS 180-4) for the artifact digest: Monocypher has none. Part of Origami's device core.
#ifndef ORIGAMI_SHA256_H_
#define ORIGAMI_SHA256_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint32_t state[8];
  uint64_t length;      // bytes hashed so far
  uint8_t block[64];
  uint32_t used;        // bytes waiting in `block`
} origami_sha256_t;

void origami_sha256_init(origami_sha256_t* ctx);
void origami_sha256_update(origami_sha256_t* ctx, const uint8_t* data, size_t len);
void origami_sha256_final(origami_sha256_t* ctx, uint8_t digest[32]);
// Lower-case hex of a 32-byte digest into `hex` (65 bytes with the terminating NUL).
void origami_sha256_hex(const uint8_t digest[32], char hex[65]);

#ifdef __cplusplus
}
#endif

#endif  // ORIGAMI_SHA256_H_
