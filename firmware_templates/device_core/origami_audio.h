// The keyword-spotting audio front end on the device: a window of int16 PCM -> the model's int8 input,
// computed as runtimes/audio_features.py does on the host (periodic Hann window, |FFT|, HTK mel filter
// bank, log(x + offset), orthonormal DCT-II), then the model's normalisation and input quantization.
// Every number comes from the model's meta (origami_model_meta.h, or a frame): nothing is hard-coded.
// Portable C, no allocation: the tables live in one static state sized by the ORIGAMI_AUDIO_MAX_* bounds.
#ifndef ORIGAMI_AUDIO_H_
#define ORIGAMI_AUDIO_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Bounds of the static tables (bytes: about 40 KiB at these values). A model whose front end exceeds
// them is refused with ORIGAMI_AUDIO_TOO_LARGE, never truncated.
#ifndef ORIGAMI_AUDIO_MAX_FFT
#define ORIGAMI_AUDIO_MAX_FFT 1024u
#endif
#ifndef ORIGAMI_AUDIO_MAX_MEL
#define ORIGAMI_AUDIO_MAX_MEL 64u
#endif
#ifndef ORIGAMI_AUDIO_MAX_COEFFICIENTS
#define ORIGAMI_AUDIO_MAX_COEFFICIENTS 40u
#endif

typedef struct {
  uint32_t sample_rate;
  uint32_t frame_length;   // samples per frame (<= fft_size)
  uint32_t frame_step;     // samples between frame starts
  uint32_t fft_size;       // a power of two
  uint32_t mel_bins;
  uint32_t coefficients;   // MFCCs per frame; 0: the log-mel energies themselves
  double lower_hz;
  double upper_hz;
  double log_offset;
  float norm_offset;       // x = (feature - norm_offset) / norm_scale (one channel: 0 and 1 for "none")
  float norm_scale;
  float input_scale;       // q = round(x / input_scale) + input_zero_point, clamped to int8
  int32_t input_zero_point;
} origami_audio_params;

typedef enum {
  ORIGAMI_AUDIO_OK = 0,
  ORIGAMI_AUDIO_BAD_PARAMS = 1,   // zero, inconsistent or non-power-of-two sizes, bad frequencies or scales
  ORIGAMI_AUDIO_TOO_LARGE = 2,    // beyond the ORIGAMI_AUDIO_MAX_* tables
  ORIGAMI_AUDIO_TOO_SHORT = 3,    // fewer samples than one frame
  ORIGAMI_AUDIO_OUTPUT_SIZE = 4,  // the output buffer is not frames x features
} origami_audio_status;

// Frames in a window of `samples` samples (0 when shorter than one frame).
uint32_t origami_audio_frames(const origami_audio_params* p, size_t samples);

// Features per frame: coefficients, or mel_bins for log-mel.
uint32_t origami_audio_width(const origami_audio_params* p);

// The model's int8 input (frames x width, row-major) from `samples` PCM samples, little-endian int16 as
// bytes (a frame's payload need not be 2-byte aligned, and an unaligned int16 load faults on an M0+).
// The tables are rebuilt only when the parameters change. Not reentrant (one static state).
origami_audio_status origami_audio_features(const origami_audio_params* p, const uint8_t* pcm_le, size_t samples,
                                            int8_t* out, size_t out_len);

#ifdef __cplusplus
}
#endif

#endif  // ORIGAMI_AUDIO_H_
