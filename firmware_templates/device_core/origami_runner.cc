// TFLM over a model in a storage slot, with the op resolver the firmware was built with and an arena
// of fixed size (the RAM budget): a model that needs other operators or more RAM fails to load.
// Part of Origami's device core.
#include "origami_runner.h"

#include <new>
#include <string.h>

#include "op_resolver.h"
#include "origami_device_config.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/schema/schema_generated.h"

namespace {
alignas(16) uint8_t tensor_arena[ORIGAMI_ARENA_BYTES];
alignas(tflite::MicroInterpreter) uint8_t interpreter_storage[sizeof(tflite::MicroInterpreter)];
tflite::MicroInterpreter* interpreter = nullptr;
OrigamiOpResolver resolver;
bool resolver_ready = false;

int fail(const char** why, const char* text) {
  if (why) *why = text;
  return -1;
}
}  // namespace

extern "C" void origami_runner_unload(void) {
  if (interpreter) interpreter->~MicroInterpreter();
  interpreter = nullptr;
}

extern "C" int origami_runner_load(const uint8_t* model, uint32_t size, const char** why) {
  origami_runner_unload();
  if (!resolver_ready) {
    if (RegisterOrigamiOperators(resolver) != kTfLiteOk) return fail(why, "op resolver failed");
    resolver_ready = true;
  }
  // The bytes are signed and digest-checked, yet still checked as a flatbuffer: a truncated or
  // malformed model must fail here, not make TFLM read outside the slot.
  flatbuffers::Verifier verifier(model, size);
  if (!tflite::VerifyModelBuffer(verifier)) return fail(why, "not a valid TFLite flatbuffer");
  const tflite::Model* parsed = tflite::GetModel(model);
  if (parsed->version() != TFLITE_SCHEMA_VERSION) return fail(why, "unsupported TFLite schema version");
  interpreter = new (interpreter_storage) tflite::MicroInterpreter(parsed, resolver, tensor_arena,
                                                                   ORIGAMI_ARENA_BYTES);
  if (interpreter->AllocateTensors() != kTfLiteOk) {
    origami_runner_unload();
    return fail(why, "AllocateTensors failed: an operator this firmware lacks, or the arena is too small");
  }
  if (interpreter->inputs_size() < 1 || interpreter->outputs_size() < 1) {
    origami_runner_unload();
    return fail(why, "the model has no input or output tensor");
  }
  return 0;
}

extern "C" int origami_runner_probe(const char** why) {
  if (!interpreter) return fail(why, "no model loaded");
  TfLiteTensor* input = interpreter->input(0);
  memset(input->data.raw, 0, input->bytes);
  if (interpreter->Invoke() != kTfLiteOk) return fail(why, "probe inference failed");
  return 0;
}

extern "C" uint32_t origami_runner_arena_used(void) {
  return interpreter ? (uint32_t)interpreter->arena_used_bytes() : 0u;
}

extern "C" uint32_t origami_runner_arena_bytes(void) { return ORIGAMI_ARENA_BYTES; }

extern "C" uint32_t origami_runner_input_bytes(void) {
  return interpreter ? (uint32_t)interpreter->input(0)->bytes : 0u;
}

extern "C" int origami_runner_infer(const uint8_t* input, uint32_t len, const uint8_t** output,
                                    uint32_t* out_len, const char** why) {
  if (!interpreter) return fail(why, "no model loaded");
  TfLiteTensor* in = interpreter->input(0);
  if (len != in->bytes) return fail(why, "input size differs from the model's input tensor");
  memcpy(in->data.raw, input, len);
  if (interpreter->Invoke() != kTfLiteOk) return fail(why, "inference failed");
  TfLiteTensor* out = interpreter->output(0);
  *output = reinterpret_cast<const uint8_t*>(out->data.raw);
  *out_len = (uint32_t)out->bytes;
  return 0;
}
