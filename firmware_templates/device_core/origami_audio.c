// The audio front end of origami_audio.h. Bit-exactness with the host (runtimes/audio_features.py, numpy
// float32) is the goal, so every step rounds to float where numpy holds a float32 array and computes in
// double where numpy computes in double (the tables) or where its float32 result is itself a rounding of
// a longer computation (FFT, the two matrix products): there a double sum rounded once is the closest
// this code can get to numpy's float32 result, which differs from it by float32 noise (docs/firmware.md
// gives the measured rate of 1-LSB differences in the int8 output). Compile with -ffp-contract=off: a
// fused multiply-add rounds once where numpy rounds twice.
#include "origami_audio.h"

#include <math.h>
#include <string.h>

#ifndef M_PI  // POSIX, not ISO C: the same double as Python's math.pi
#define M_PI 3.14159265358979323846
#endif

#define HALF_MAX (ORIGAMI_AUDIO_MAX_FFT / 2u + 1u)
#define WEIGHTS_MAX (2u * HALF_MAX)  // each spectrum bin lies under at most two triangles

typedef struct {
  int ready;
  origami_audio_params params;  // what the tables below were built for
  float window[ORIGAMI_AUDIO_MAX_FFT];
  double twiddle_re[ORIGAMI_AUDIO_MAX_FFT / 2u];
  double twiddle_im[ORIGAMI_AUDIO_MAX_FFT / 2u];
  uint16_t band_first[ORIGAMI_AUDIO_MAX_MEL];  // first spectrum bin of each triangle
  uint16_t band_count[ORIGAMI_AUDIO_MAX_MEL];
  uint16_t band_weights[ORIGAMI_AUDIO_MAX_MEL];  // where its weights start in `weights`
  float weights[WEIGHTS_MAX];
  float dct[ORIGAMI_AUDIO_MAX_MEL * ORIGAMI_AUDIO_MAX_COEFFICIENTS];
  double re[ORIGAMI_AUDIO_MAX_FFT];
  double im[ORIGAMI_AUDIO_MAX_FFT];
  float magnitude[HALF_MAX];
  float log_mel[ORIGAMI_AUDIO_MAX_MEL];
} audio_state;

static audio_state g_audio;

uint32_t origami_audio_frames(const origami_audio_params* p, size_t samples) {
  if (p->frame_step == 0 || samples < p->frame_length) return 0;
  return 1u + (uint32_t)((samples - p->frame_length) / p->frame_step);
}

uint32_t origami_audio_width(const origami_audio_params* p) {
  return p->coefficients ? p->coefficients : p->mel_bins;
}

static int same_params(const origami_audio_params* a, const origami_audio_params* b) {
  // Field by field: the struct's padding bytes are unspecified, so memcmp could see a change that is none.
  return a->sample_rate == b->sample_rate && a->frame_length == b->frame_length &&
         a->frame_step == b->frame_step && a->fft_size == b->fft_size && a->mel_bins == b->mel_bins &&
         a->coefficients == b->coefficients && a->lower_hz == b->lower_hz && a->upper_hz == b->upper_hz &&
         a->log_offset == b->log_offset;  // normalisation and quantization need no table
}

static origami_audio_status check(const origami_audio_params* p) {
  uint32_t n = p->fft_size;
  if (p->sample_rate == 0 || p->frame_length == 0 || p->frame_step == 0 || p->mel_bins == 0 || n < 2 ||
      (n & (n - 1u)) != 0 || p->frame_length > n || p->coefficients > p->mel_bins ||
      !(p->lower_hz >= 0.0) || !(p->upper_hz > p->lower_hz) || !isfinite(p->upper_hz) ||
      !(p->log_offset > 0.0) || !isfinite(p->log_offset) ||
      !(p->input_scale > 0.0f) || !(p->norm_scale != 0.0f) || !isfinite(p->norm_scale) ||
      !isfinite(p->norm_offset) || !isfinite(p->input_scale) || p->input_zero_point < -128 ||
      p->input_zero_point > 127)
    return ORIGAMI_AUDIO_BAD_PARAMS;
  if (n > ORIGAMI_AUDIO_MAX_FFT || p->mel_bins > ORIGAMI_AUDIO_MAX_MEL ||
      p->coefficients > ORIGAMI_AUDIO_MAX_COEFFICIENTS)
    return ORIGAMI_AUDIO_TOO_LARGE;
  return ORIGAMI_AUDIO_OK;
}

static double hz_to_mel(double hz) { return 1127.0 * log1p(hz / 700.0); }

// numpy.linspace(start, stop, num)[k]: k * ((stop - start) / (num - 1)) + start, the last one exactly stop.
static double linspace(double start, double stop, uint32_t num, uint32_t k) {
  if (k == num - 1u) return stop;
  return (double)k * ((stop - start) / (double)(num - 1u)) + start;
}

static origami_audio_status build_mel(const origami_audio_params* p) {
  audio_state* s = &g_audio;
  uint32_t bins = p->fft_size / 2u + 1u, used = 0;
  double low = hz_to_mel(p->lower_hz), high = hz_to_mel(p->upper_hz);
  for (uint32_t m = 0; m < p->mel_bins; m++) {
    double lower = linspace(low, high, p->mel_bins + 2u, m);
    double centre = linspace(low, high, p->mel_bins + 2u, m + 1u);
    double upper = linspace(low, high, p->mel_bins + 2u, m + 2u);
    s->band_first[m] = 0;
    s->band_count[m] = 0;
    s->band_weights[m] = (uint16_t)used;
    for (uint32_t k = 1; k < bins; k++) {  // bin 0 (DC) weighs nothing, as on the host
      double mel = hz_to_mel(linspace(0.0, p->sample_rate / 2.0, bins, k));
      double rising = (mel - lower) / (centre - lower), falling = (upper - mel) / (upper - centre);
      double w = rising < falling ? rising : falling;
      float weight = w > 0.0 ? (float)w : 0.0f;
      if (weight == 0.0f && s->band_count[m] == 0) continue;
      if (weight == 0.0f) break;  // past the triangle: its weights are contiguous
      if (used >= WEIGHTS_MAX) return ORIGAMI_AUDIO_TOO_LARGE;
      if (s->band_count[m] == 0) s->band_first[m] = (uint16_t)k;
      s->weights[used++] = weight;
      s->band_count[m]++;
    }
  }
  return ORIGAMI_AUDIO_OK;
}

static origami_audio_status prepare(const origami_audio_params* p) {
  audio_state* s = &g_audio;
  if (s->ready && same_params(&s->params, p)) return ORIGAMI_AUDIO_OK;
  s->ready = 0;
  for (uint32_t i = 0; i < p->frame_length; i++)
    s->window[i] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * (double)i / (double)p->frame_length));
  for (uint32_t i = 0; i < p->fft_size / 2u; i++) {
    double angle = -2.0 * M_PI * (double)i / (double)p->fft_size;
    s->twiddle_re[i] = cos(angle);
    s->twiddle_im[i] = sin(angle);
  }
  origami_audio_status status = build_mel(p);
  if (status != ORIGAMI_AUDIO_OK) return status;
  double norm = sqrt(0.5 / (double)p->mel_bins);
  for (uint32_t n = 0; n < p->mel_bins; n++)
    for (uint32_t k = 0; k < p->coefficients; k++)
      s->dct[n * p->coefficients + k] =
          (float)(cos(M_PI / (double)p->mel_bins * ((double)n + 0.5) * (double)k) * 2.0 * norm);
  s->params = *p;
  s->ready = 1;
  return ORIGAMI_AUDIO_OK;
}

// In-place iterative radix-2 FFT of re/im (n a power of two), twiddles from the table.
static void fft(uint32_t n) {
  audio_state* s = &g_audio;
  for (uint32_t i = 1, j = 0; i < n; i++) {
    uint32_t bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      double t = s->re[i]; s->re[i] = s->re[j]; s->re[j] = t;
      t = s->im[i]; s->im[i] = s->im[j]; s->im[j] = t;
    }
  }
  for (uint32_t len = 2; len <= n; len <<= 1) {
    uint32_t stride = n / len;
    for (uint32_t i = 0; i < n; i += len) {
      for (uint32_t k = 0; k < len / 2u; k++) {
        double wr = s->twiddle_re[k * stride], wi = s->twiddle_im[k * stride];
        uint32_t a = i + k, b = i + k + len / 2u;
        double xr = s->re[b] * wr - s->im[b] * wi, xi = s->re[b] * wi + s->im[b] * wr;
        s->re[b] = s->re[a] - xr; s->im[b] = s->im[a] - xi;
        s->re[a] += xr; s->im[a] += xi;
      }
    }
  }
}

// numpy.round: half to even (rintf would depend on the rounding mode; this does not).
static float round_half_even(float v) {
  float r = floorf(v), d = v - r;
  if (d > 0.5f || (d == 0.5f && fmodf(r, 2.0f) != 0.0f)) r += 1.0f;
  return r;
}

static int8_t quantize(const origami_audio_params* p, float feature) {
  float x = (feature - p->norm_offset) / p->norm_scale;
  float q = x / p->input_scale;
  if (q > 1000.0f) q = 1000.0f;  // clamped wide of int8 first, so the rounding below stays exact
  if (q < -1000.0f) q = -1000.0f;
  q = round_half_even(q) + (float)p->input_zero_point;
  if (q > 127.0f) q = 127.0f;
  if (q < -128.0f) q = -128.0f;
  return (int8_t)q;
}

static float sample_at(const uint8_t* pcm_le, uint32_t i) {
  return (float)(int16_t)(uint16_t)(pcm_le[2u * i] | (uint16_t)pcm_le[2u * i + 1u] << 8);
}

static void one_frame(const origami_audio_params* p, const uint8_t* pcm_le, int8_t* out) {
  audio_state* s = &g_audio;
  uint32_t bins = p->fft_size / 2u + 1u;
  for (uint32_t i = 0; i < p->fft_size; i++) {
    // Rounded to float twice, as numpy's float32 clip (pcm / 32768, exact) times its float32 window.
    s->re[i] = i < p->frame_length ? (double)((sample_at(pcm_le, i) / 32768.0f) * s->window[i]) : 0.0;
    s->im[i] = 0.0;
  }
  fft(p->fft_size);
  for (uint32_t k = 0; k < bins; k++) s->magnitude[k] = (float)sqrt(s->re[k] * s->re[k] + s->im[k] * s->im[k]);
  for (uint32_t m = 0; m < p->mel_bins; m++) {
    double sum = 0.0;
    const float* w = &s->weights[s->band_weights[m]];
    for (uint32_t j = 0; j < s->band_count[m]; j++) sum += (double)s->magnitude[s->band_first[m] + j] * w[j];
    float energy = (float)sum + (float)p->log_offset;
    s->log_mel[m] = (float)log((double)energy);
  }
  if (p->coefficients == 0) {
    for (uint32_t m = 0; m < p->mel_bins; m++) out[m] = quantize(p, s->log_mel[m]);
    return;
  }
  for (uint32_t k = 0; k < p->coefficients; k++) {
    double sum = 0.0;
    for (uint32_t n = 0; n < p->mel_bins; n++) sum += (double)s->log_mel[n] * s->dct[n * p->coefficients + k];
    out[k] = quantize(p, (float)sum);
  }
}

origami_audio_status origami_audio_features(const origami_audio_params* p, const uint8_t* pcm_le, size_t samples,
                                            int8_t* out, size_t out_len) {
  origami_audio_status status = check(p);
  if (status != ORIGAMI_AUDIO_OK) return status;
  uint32_t frames = origami_audio_frames(p, samples), width = origami_audio_width(p);
  if (frames == 0) return ORIGAMI_AUDIO_TOO_SHORT;
  if (out_len != (size_t)frames * width) return ORIGAMI_AUDIO_OUTPUT_SIZE;
  status = prepare(p);
  if (status != ORIGAMI_AUDIO_OK) return status;
  for (uint32_t f = 0; f < frames; f++) one_frame(p, pcm_le + 2u * (size_t)f * p->frame_step, out + (size_t)f * width);
  return ORIGAMI_AUDIO_OK;
}
