// The TFLM runner over a model in a storage slot: the firmware's op resolver and a fixed arena.
// Part of Origami's device core (C API, implemented in C++).
#ifndef ORIGAMI_RUNNER_H_
#define ORIGAMI_RUNNER_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Verifies the flatbuffer, resolves its operators and allocates its tensors: 0, or -1 with `why`.
int origami_runner_load(const uint8_t* model, uint32_t size, const char** why);
// One inference on a zero input (the health probe): 0, or -1 with `why`.
int origami_runner_probe(const char** why);
uint32_t origami_runner_arena_used(void);
uint32_t origami_runner_arena_bytes(void);
uint32_t origami_runner_input_bytes(void);
// Runs `input` (exactly the input tensor's bytes): 0 with the raw output bytes, or -1 with `why`.
int origami_runner_infer(const uint8_t* input, uint32_t len, const uint8_t** output, uint32_t* out_len,
                         const char** why);
void origami_runner_unload(void);

#ifdef __cplusplus
}
#endif

#endif  // ORIGAMI_RUNNER_H_
