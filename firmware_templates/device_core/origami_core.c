// Origami's device core: framed serial protocol, signed manifests checked with Monocypher's Ed25519
// over the exact bytes the controller signed, SHA-256 of the artifact, two model slots, a trial boot
// with a probe inference, confirm or roll back. Portable C over origami_hal.h; see docs/serial.md.
//
// An update goes: MANIFEST (signature, key id, target, size) -> CHUNKs into the inactive slot ->
// size + sha256 against the signed manifest -> slot marked `pending`, reboot -> at boot the pending
// slot goes `on trial` (persisted) and must load and pass a probe inference -> confirmed (active) or
// rolled back. A slot still on trial at boot means the trial itself crashed: it is rolled back.
#include "origami_core.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "monocypher-ed25519.h"
#include "origami_device_config.h"
#include "origami_frame.h"
#include "origami_hal.h"
#include "origami_json.h"
#include "origami_runner.h"

// AUDIO_INFER (docs/serial.md): PCM in, the front end of origami_audio.c, then the model. Only firmware
// whose serial buffer holds a window (the emulated boards: 32 KiB for 1 s at 16 kHz) enables it.
#ifndef ORIGAMI_AUDIO_INFER
#define ORIGAMI_AUDIO_INFER 0
#endif
#if ORIGAMI_AUDIO_INFER
#include "origami_audio.h"
#endif
#include "origami_sha256.h"

#define META_BYTES 4096u
#define META_MAGIC 0x4F524731u  // "ORG1"
#define NAME_MAX_LEN 64u
#define VERSION_MAX_LEN 128u
#define REASON_MAX_LEN 200u

enum { SLOT_NONE = 0, SLOT_A = 1, SLOT_B = 2 };

typedef struct {
  uint32_t size;  // 0: empty
  char digest[65];
  char version[VERSION_MAX_LEN + 1];
} slot_info_t;

typedef struct {
  uint32_t present;
  uint32_t bytes_received;
  char digest[65];
  char version[VERSION_MAX_LEN + 1];
  char outcome[16];
  char reason[REASON_MAX_LEN + 1];
} last_update_t;

typedef struct {
  uint32_t magic;
  uint8_t active, pending, trial, healthy;
  uint32_t arena_bytes;
  slot_info_t slots[2];
  last_update_t last;
  char health_reason[REASON_MAX_LEN + 1];
  uint32_t crc;  // over everything above
  // The firmware's own model last installed (or tried) here. After the CRC, so the checked layout stays
  // as older firmware wrote it; a damaged value only means the firmware's model is offered once more.
  char factory_digest[65];
} meta_t;

typedef struct {
  int active;
  uint8_t slot;
  uint32_t size, received;
  char digest[65];
  char version[VERSION_MAX_LEN + 1];
  origami_sha256_t sha;
} transfer_t;

static meta_t s_meta;
static transfer_t s_transfer;
static origami_decoder_t s_decoder;
static uint8_t s_rx[ORIGAMI_MAX_PAYLOAD + ORIGAMI_FRAME_OVERHEAD];
static char s_json[1536];
static const uint8_t kPublicKey[32] = ORIGAMI_PUBLIC_KEY_BYTES;
static uint8_t s_loaded;  // the slot the runner holds, SLOT_NONE when none
static struct {
  const uint8_t* model;
  uint32_t size;
  const char* version;
} s_factory;

// --- storage --------------------------------------------------------------------------------

static uint32_t slot_capacity(void) { return ((origami_hal_storage_bytes() - META_BYTES) / 2u) & ~(META_BYTES - 1u); }
static uint32_t slot_offset(uint8_t slot) { return META_BYTES + (uint32_t)(slot - 1u) * slot_capacity(); }
static const uint8_t* slot_bytes(uint8_t slot) { return origami_hal_storage() + slot_offset(slot); }
static char slot_name(uint8_t slot) { return slot == SLOT_A ? 'a' : 'b'; }
static uint8_t other_slot(uint8_t slot) { return slot == SLOT_A ? SLOT_B : SLOT_A; }

static uint32_t meta_crc(const meta_t* m) { return origami_crc32((const uint8_t*)m, offsetof(meta_t, crc), 0); }

static void meta_save(void) {
  s_meta.magic = META_MAGIC;
  s_meta.crc = meta_crc(&s_meta);
  origami_hal_storage_erase(0, META_BYTES);
  origami_hal_storage_write(0, (const uint8_t*)&s_meta, sizeof s_meta);
}

static void meta_load(void) {
  memcpy(&s_meta, origami_hal_storage(), sizeof s_meta);
  s_meta.factory_digest[sizeof s_meta.factory_digest - 1] = '\0';  // outside the CRC: bound it
  if (s_meta.magic != META_MAGIC || s_meta.crc != meta_crc(&s_meta) || s_meta.active > SLOT_B ||
      s_meta.pending > SLOT_B || s_meta.trial > SLOT_B) {
    memset(&s_meta, 0, sizeof s_meta);  // blank or damaged storage: no model
    strcpy(s_meta.health_reason, "no model installed");
  }
}

static void copy_text(char* out, size_t cap, const char* text) {
  size_t n = strlen(text);
  if (n >= cap) n = cap - 1;
  memcpy(out, text, n);
  out[n] = '\0';
}

static void record_last(const char* digest, const char* version, const char* outcome, const char* reason,
                        uint32_t received) {
  s_meta.last.present = 1;
  copy_text(s_meta.last.digest, sizeof s_meta.last.digest, digest);
  copy_text(s_meta.last.version, sizeof s_meta.last.version, version);
  copy_text(s_meta.last.outcome, sizeof s_meta.last.outcome, outcome);
  copy_text(s_meta.last.reason, sizeof s_meta.last.reason, reason);
  s_meta.last.bytes_received = received;
}

// --- sending --------------------------------------------------------------------------------

static void send(uint8_t type, const void* payload, uint32_t len) {
  origami_frame_send(origami_hal_write, type, (const uint8_t*)payload, len);
}

static void send_ack(uint32_t next_offset, uint8_t status) {
  uint8_t p[5];
  origami_put_u32(p, next_offset);
  p[4] = status;
  send(ORIGAMI_FRAME_CHUNK_ACK, p, sizeof p);
}

// A tiny JSON writer into s_json. Strings written here come from the signed manifest (plain
// printable ASCII, no quotes or backslashes: the scanner refuses others) or from this file.
static size_t s_len;
static void put(const char* text) {
  size_t n = strlen(text);
  if (s_len + n < sizeof s_json) {
    memcpy(s_json + s_len, text, n);
    s_len += n;
  }
}
static void put_str(const char* key, const char* value) {
  put("\"");
  put(key);
  put("\":");
  if (!value) {
    put("null");
    return;
  }
  put("\"");
  put(value);
  put("\"");
}
static void put_uint(const char* key, uint32_t value) {
  char digits[16];
  snprintf(digits, sizeof digits, "%lu", (unsigned long)value);
  put("\"");
  put(key);
  put("\":");
  put(digits);
}

static void send_hello(void) {
  s_len = 0;
  put("{");
  put_str("board", ORIGAMI_BOARD); put(",");
  put_str("cpu", ORIGAMI_CPU); put(",");
  put_str("deviceId", origami_hal_device_id()); put(",");
  put_str("firmwareVersion", ORIGAMI_FIRMWARE_VERSION); put(",");
  put_uint("flash", ORIGAMI_FLASH_BYTES); put(",");
  put_str("keyId", ORIGAMI_KEY_ID); put(",");
  put_uint("maxPayload", ORIGAMI_MAX_PAYLOAD); put(",");
  put_str("profile", ORIGAMI_PROFILE); put(",");
  put_uint("ram", ORIGAMI_RAM_BYTES); put(",");
  put_str("runtime", "tflm"); put(",");
  put_uint("slotBytes", slot_capacity()); put(",");
  put_str("usb", ORIGAMI_USB);
  put("}");
  send(ORIGAMI_FRAME_HELLO, s_json, (uint32_t)s_len);
}

static void send_state(void) {
  const slot_info_t* active = s_meta.active ? &s_meta.slots[s_meta.active - 1] : 0;
  char name[2] = {0, 0};
  s_len = 0;
  put("{");
  name[0] = slot_name(s_meta.active);
  put_str("activeSlot", active ? name : 0); put(",");
  if (active) { put_uint("arenaBytes", s_meta.arena_bytes); put(","); }
  put_str("health", !active ? "unknown" : s_meta.healthy ? "ok" : "failed"); put(",");
  put_str("healthReason", s_meta.health_reason); put(",");
  if (s_meta.last.present) {
    put("\"lastUpdate\":{");
    put_uint("bytesReceived", s_meta.last.bytes_received); put(",");
    put_str("digest", s_meta.last.digest); put(",");
    put_str("outcome", s_meta.last.outcome); put(",");
    put_str("reason", s_meta.last.reason); put(",");
    put_str("version", s_meta.last.version);
    put("},");
  }
  put_str("modelDigest", active ? active->digest : 0); put(",");
  put_str("modelVersion", active ? active->version : 0); put(",");
  put("\"slots\":[");
  for (uint8_t slot = SLOT_A; slot <= SLOT_B; ++slot) {
    const slot_info_t* info = &s_meta.slots[slot - 1];
    name[0] = slot_name(slot);
    put(slot == SLOT_A ? "{" : ",{");
    put_str("name", name);
    if (info->size) {
      put(",");
      put_str("digest", info->digest); put(",");
      put_str("version", info->version);
    }
    put("}");
  }
  put("]}");
  send(ORIGAMI_FRAME_STATE, s_json, (uint32_t)s_len);
}

static void send_event(int warning, const char* reason, const char* message, const char* digest) {
  s_len = 0;
  put("{");
  put_str("digest", digest); put(",");
  put_str("message", message); put(",");
  put_str("reason", reason); put(",");
  put_str("type", warning ? "Warning" : "Normal");
  put("}");
  send(ORIGAMI_FRAME_EVENT, s_json, (uint32_t)s_len);
}

// --- manifest -------------------------------------------------------------------------------

typedef struct {
  char name[NAME_MAX_LEN + 1];
  char version[VERSION_MAX_LEN + 1];
  char digest[65];
  uint32_t size;
} manifest_t;

static void refuse(const char* reason, const char* message, const char* digest, const char* version,
                   uint32_t received) {
  s_transfer.active = 0;
  if (digest && version) {
    record_last(digest, version, "rejected", message, received);
    meta_save();
  }
  send_event(1, reason, message, digest);
  send_ack(received, ORIGAMI_ACK_REFUSED);
  send_state();
}

static int member(origami_span_t doc, const char* key, origami_span_t* value) {
  return origami_json_member(doc, key, value) == ORIGAMI_JSON_OK ? 0 : -1;
}

static int member_string(origami_span_t doc, const char* key, char* out, uint32_t cap) {
  origami_span_t v;
  return member(doc, key, &v) == 0 && origami_json_string(v, out, cap) > 0 ? 0 : -1;
}

static int is_hex_digest(const char* text) {
  if (strlen(text) != 64) return 0;
  for (const char* p = text; *p; ++p)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return 0;
  return 1;
}

// The fields the board acts on, read from the same signed bytes; a message for what is odd.
static const char* parse_manifest(origami_span_t raw, manifest_t* m, const char** reason) {
  origami_span_t size, target;
  char runtime[16], kind[16], board[NAME_MAX_LEN + 1];
  *reason = "ManifestInvalid";
  if (member_string(raw, "name", m->name, sizeof m->name) || member_string(raw, "version", m->version, sizeof m->version) ||
      member_string(raw, "digest", m->digest, sizeof m->digest) || !is_hex_digest(m->digest) ||
      member(raw, "size", &size) || origami_json_uint(size, &m->size) || m->size == 0 ||
      member(raw, "target", &target) || member_string(target, "runtime", runtime, sizeof runtime))
    return "the signed manifest lacks name, version, digest, size or target, or has them in a form this "
           "board does not read";
  *reason = "WrongTarget";
  if (member_string(target, "kind", kind, sizeof kind)) strcpy(kind, "model");
  if (strcmp(runtime, "tflm") != 0 || strcmp(kind, "model") != 0)
    return "the artifact is not a TFLM model; this board installs TFLM models only";
  origami_span_t board_value;
  if (member(target, "board", &board_value) == 0 && !origami_json_is_null(board_value)) {
    if (origami_json_string(board_value, board, sizeof board) <= 0 || strcmp(board, ORIGAMI_PROFILE) != 0)
      return "the artifact is built for another board than " ORIGAMI_PROFILE;
  }
  *reason = "ModelTooLarge";
  if (m->size > slot_capacity()) return "the model is larger than a model slot of this board";
  return 0;
}

static void on_manifest(const uint8_t* payload, uint32_t len) {
  origami_span_t doc = {(const char*)payload, len}, raw, key_value, sig_value;
  char key_id[17], signature_b64[89];
  uint8_t signature[64];
  if (member(doc, "manifest", &raw) || member(doc, "keyId", &key_value) || member(doc, "signature", &sig_value) ||
      raw.at[0] != '{') {
    refuse("ManifestInvalid", "the MANIFEST frame is not a signed manifest (manifest, signature, keyId)", 0, 0, 0);
    return;
  }
  manifest_t m;
  const char* reason;
  const char* why = parse_manifest(raw, &m, &reason);
  int have_ids = why == 0 || strcmp(reason, "ManifestInvalid") != 0;  // name/version/digest were read
  if (origami_json_string(key_value, key_id, sizeof key_id) != 16 || strcmp(key_id, ORIGAMI_KEY_ID) != 0) {
    refuse("SignatureInvalid", "the manifest is signed by a key this board does not trust (it trusts key "
           ORIGAMI_KEY_ID ")", have_ids ? m.digest : 0, have_ids ? m.version : 0, 0);
    return;
  }
  // The signature covers the raw bytes of the `manifest` member: exactly Manifest.canonical_bytes().
  if (origami_json_string(sig_value, signature_b64, sizeof signature_b64) != 88 ||
      origami_base64_decode(signature_b64, 88, signature, sizeof signature) != 64 ||
      crypto_ed25519_check(signature, kPublicKey, (const uint8_t*)raw.at, raw.len) != 0) {
    refuse("SignatureInvalid", "the manifest's signature does not verify: it was altered or not signed by the "
           "controller", have_ids ? m.digest : 0, have_ids ? m.version : 0, 0);
    return;
  }
  if (why) {
    refuse(reason, why, have_ids ? m.digest : 0, have_ids ? m.version : 0, 0);
    return;
  }
  const slot_info_t* active = s_meta.active ? &s_meta.slots[s_meta.active - 1] : 0;
  if (active && strcmp(active->digest, m.digest) == 0) {
    send_ack(m.size, ORIGAMI_ACK_INSTALLED);  // already runs it: idempotent
    send_state();
    return;
  }
  if (s_transfer.active && strcmp(s_transfer.digest, m.digest) == 0 && s_transfer.size == m.size) {
    send_ack(s_transfer.received, ORIGAMI_ACK_OK);  // resume where the same transfer stopped
    return;
  }
  memset(&s_transfer, 0, sizeof s_transfer);
  s_transfer.slot = s_meta.active ? other_slot(s_meta.active) : SLOT_A;
  s_transfer.size = m.size;
  strcpy(s_transfer.digest, m.digest);
  strcpy(s_transfer.version, m.version);
  origami_sha256_init(&s_transfer.sha);
  if (s_meta.slots[s_transfer.slot - 1].size || s_meta.pending) {
    memset(&s_meta.slots[s_transfer.slot - 1], 0, sizeof(slot_info_t));  // the inactive slot is overwritten
    s_meta.pending = SLOT_NONE;
    meta_save();
  }
  if (origami_hal_storage_erase(slot_offset(s_transfer.slot), (m.size + META_BYTES - 1u) & ~(META_BYTES - 1u))) {
    refuse("StorageFailed", "erasing the model slot failed", m.digest, m.version, 0);
    return;
  }
  s_transfer.active = 1;
  send_ack(0, ORIGAMI_ACK_OK);
}

static void on_chunk(const uint8_t* payload, uint32_t len) {
  transfer_t* t = &s_transfer;
  if (!t->active || len < 4) {
    send_ack(0, ORIGAMI_ACK_REFUSED);
    return;
  }
  uint32_t offset = origami_get_u32(payload);
  const uint8_t* data = payload + 4;
  len -= 4;
  if (offset != t->received) {
    send_ack(t->received, ORIGAMI_ACK_RESEND);
    return;
  }
  if (len > t->size - t->received) {
    refuse("DigestMismatch", "received more bytes than the signed manifest's size", t->digest, t->version,
           t->received + len);
    return;
  }
  if (origami_hal_storage_write(slot_offset(t->slot) + offset, data, len)) {
    refuse("StorageFailed", "writing the model slot failed", t->digest, t->version, t->received);
    return;
  }
  origami_sha256_update(&t->sha, data, len);
  t->received += len;
  if (t->received < t->size) {
    send_ack(t->received, ORIGAMI_ACK_OK);
    return;
  }
  uint8_t digest[32];
  char hex[65];
  origami_sha256_final(&t->sha, digest);
  origami_sha256_hex(digest, hex);
  // The slot holds what was received; check what is in it, not only what passed through.
  origami_sha256_t again;
  origami_sha256_init(&again);
  origami_sha256_update(&again, slot_bytes(t->slot), t->size);
  uint8_t stored[32];
  origami_sha256_final(&again, stored);
  if (strcmp(hex, t->digest) != 0 || memcmp(digest, stored, 32) != 0) {
    char message[REASON_MAX_LEN];
    snprintf(message, sizeof message, "received %lu B with sha256 %.12s..., the signed manifest says %.12s...",
             (unsigned long)t->received, hex, t->digest);
    refuse("DigestMismatch", message, t->digest, t->version, t->received);
    return;
  }
  slot_info_t* info = &s_meta.slots[t->slot - 1];
  info->size = t->size;
  strcpy(info->digest, t->digest);
  strcpy(info->version, t->version);
  s_meta.pending = t->slot;
  record_last(t->digest, t->version, "in-progress", "verified; rebooting into the new slot on trial", t->received);
  meta_save();
  t->active = 0;
  send_event(0, "Verified", "signature and sha256 verified on the device; rebooting into the new slot on trial",
             t->digest);
  origami_hal_reset();
}

__attribute__((weak)) void origami_on_output(const uint8_t* output, uint32_t len, uint32_t cycles) {
  (void)output;
  (void)len;
  (void)cycles;
}

// One inference on the active model: 0 with the output, or -1 with `why`; the application hears of it.
static int run_inference(const uint8_t* input, uint32_t len, const uint8_t** output, uint32_t* out_len,
                         uint32_t* cycles, const char** why) {
  uint32_t started = origami_hal_cycles();
  int failed = !s_meta.active || !s_meta.healthy ? -1 : origami_runner_infer(input, len, output, out_len, why);
  *cycles = origami_hal_cycles() - started;
  if (!failed) origami_on_output(*output, *out_len, *cycles);
  return failed;
}

int origami_core_infer(const uint8_t* input, uint32_t len) {
  const uint8_t* output = 0;
  uint32_t out_len = 0, cycles = 0;
  const char* why = 0;
  return run_inference(input, len, &output, &out_len, &cycles, &why);
}

// INFER_RESULT: status, cycles, then the output bytes, or on failure the reason as ASCII.
static void reply_inference(int failed, const uint8_t* output, uint32_t out_len, uint32_t cycles, const char* why) {
  static uint8_t reply[5 + ORIGAMI_MAX_PAYLOAD];
  reply[0] = failed ? 1u : 0u;
  origami_put_u32(reply + 1, cycles);
  if (failed || out_len > ORIGAMI_MAX_PAYLOAD - 5u) {
    const char* text = why ? why : "no healthy model";
    reply[0] = 1u;
    out_len = (uint32_t)strlen(text);
    output = (const uint8_t*)text;
  }
  memcpy(reply + 5, output, out_len);
  send(ORIGAMI_FRAME_INFER_RESULT, reply, 5u + out_len);
}

static void on_infer(const uint8_t* payload, uint32_t len) {
  const uint8_t* output = 0;
  uint32_t out_len = 0, cycles = 0;
  const char* why = 0;
  int failed = run_inference(payload, len, &output, &out_len, &cycles, &why);
  reply_inference(failed, output, out_len, cycles, why);
}

#if ORIGAMI_AUDIO_INFER
#define AUDIO_PARAMS_BYTES 64u
#ifndef ORIGAMI_AUDIO_MAX_INPUT
#define ORIGAMI_AUDIO_MAX_INPUT 4096u  // the largest feature image the front end writes (49 x 10 for KWS)
#endif

static double get_f64(const uint8_t* p) {
  uint64_t bits = (uint64_t)origami_get_u32(p) | (uint64_t)origami_get_u32(p + 4) << 32;
  double v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

static float get_f32(const uint8_t* p) {
  uint32_t bits = origami_get_u32(p);
  float v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

// The 64 B head of AUDIO_INFER (runtimes/audio_device.py's LAYOUT): six u32, three f64, three f32, one i32.
static void read_audio_params(const uint8_t* p, origami_audio_params* a) {
  a->sample_rate = origami_get_u32(p);
  a->frame_length = origami_get_u32(p + 4);
  a->frame_step = origami_get_u32(p + 8);
  a->fft_size = origami_get_u32(p + 12);
  a->mel_bins = origami_get_u32(p + 16);
  a->coefficients = origami_get_u32(p + 20);
  a->lower_hz = get_f64(p + 24);
  a->upper_hz = get_f64(p + 32);
  a->log_offset = get_f64(p + 40);
  a->norm_offset = get_f32(p + 48);
  a->norm_scale = get_f32(p + 52);
  a->input_scale = get_f32(p + 56);
  a->input_zero_point = (int32_t)origami_get_u32(p + 60);
}

static const char* audio_reason(origami_audio_status status) {
  switch (status) {
    case ORIGAMI_AUDIO_BAD_PARAMS: return "audio front end: invalid parameters";
    case ORIGAMI_AUDIO_TOO_LARGE: return "audio front end: parameters beyond the firmware's tables";
    case ORIGAMI_AUDIO_TOO_SHORT: return "audio front end: fewer samples than one frame";
    default: return "audio front end: features do not match the model's input size";
  }
}

static void on_infer_audio(const uint8_t* payload, uint32_t len) {
  static int8_t features[ORIGAMI_AUDIO_MAX_INPUT];
  const uint8_t* output = 0;
  uint32_t out_len = 0, cycles = 0;
  const char* why = 0;
  if (len < AUDIO_PARAMS_BYTES || (len - AUDIO_PARAMS_BYTES) % 2u != 0) {
    reply_inference(1, 0, 0, 0, "audio frame: 64 B of parameters, then int16 samples");
    return;
  }
  if (!s_meta.active || !s_meta.healthy) {
    reply_inference(1, 0, 0, 0, "no healthy model");
    return;
  }
  origami_audio_params params;
  read_audio_params(payload, &params);
  uint32_t samples = (len - AUDIO_PARAMS_BYTES) / 2u, need = origami_runner_input_bytes();
  if (need > sizeof features) {
    reply_inference(1, 0, 0, 0, "audio front end: the model's input exceeds ORIGAMI_AUDIO_MAX_INPUT");
    return;
  }
  uint32_t started = origami_hal_cycles();
  origami_audio_status status =
      origami_audio_features(&params, payload + AUDIO_PARAMS_BYTES, samples, features, need);
  uint32_t front_end = origami_hal_cycles() - started;
  if (status != ORIGAMI_AUDIO_OK) {
    reply_inference(1, 0, 0, 0, audio_reason(status));
    return;
  }
  int failed = run_inference((const uint8_t*)features, need, &output, &out_len, &cycles, &why);
  reply_inference(failed, output, out_len, front_end + cycles, why);  // cycles: front end + inference
}
#endif

static void on_frame(uint8_t type, const uint8_t* payload, uint32_t len) {
  switch (type) {
    case ORIGAMI_FRAME_QUERY:
      send_hello();
      send_state();
      break;
    case ORIGAMI_FRAME_MANIFEST:
      on_manifest(payload, len);
      break;
    case ORIGAMI_FRAME_CHUNK:
      on_chunk(payload, len);
      break;
    case ORIGAMI_FRAME_INFER:
      on_infer(payload, len);
      break;
#if ORIGAMI_AUDIO_INFER
    case ORIGAMI_FRAME_INFER_AUDIO:
      on_infer_audio(payload, len);
      break;
#endif
    default:
      break;  // a frame for a newer firmware: ignore it
  }
}

// --- boot -----------------------------------------------------------------------------------

static int load_slot(uint8_t slot, const char** why) {
  const slot_info_t* info = &s_meta.slots[slot - 1];
  if (!info->size || info->size > slot_capacity()) {
    *why = "the slot is empty";
    return -1;
  }
  return origami_runner_load(slot_bytes(slot), info->size, why);
}

// The pending slot boots on trial: load + probe inference, then confirm or roll back.
static void try_pending(void) {
  uint8_t slot = s_meta.pending;
  const slot_info_t* info = &s_meta.slots[slot - 1];
  char digest[65], version[VERSION_MAX_LEN + 1], message[REASON_MAX_LEN];
  strcpy(digest, info->digest);
  strcpy(version, info->version);
  s_meta.pending = SLOT_NONE;
  s_meta.trial = slot;
  meta_save();  // a crash from here on leaves the slot on trial: the next boot rolls it back
  const char* why = 0;
  int ok = load_slot(slot, &why) == 0 && origami_runner_probe(&why) == 0;
  s_meta.trial = SLOT_NONE;
  s_loaded = ok ? slot : SLOT_NONE;
  if (ok) {
    s_meta.active = slot;
    s_meta.healthy = 1;
    s_meta.arena_bytes = origami_runner_arena_used();
    s_meta.health_reason[0] = '\0';
    snprintf(message, sizeof message, "%s runs from slot %c with %lu B of its %lu B arena", version, slot_name(slot),
             (unsigned long)s_meta.arena_bytes, (unsigned long)origami_runner_arena_bytes());
    record_last(digest, version, "installed", "", info->size);
  } else {
    snprintf(message, sizeof message, "probe failed on slot %c (%s); slot %c stays active", slot_name(slot), why,
             s_meta.active ? slot_name(s_meta.active) : '-');
    record_last(digest, version, "rolled-back", message, info->size);
  }
  meta_save();
  send_event(!ok, ok ? "Installed" : "RolledBack", message, digest);
  send_ack(info->size, ok ? ORIGAMI_ACK_INSTALLED : ORIGAMI_ACK_ROLLED_BACK);
  send_state();
}

static void roll_back_trial(void) {
  uint8_t slot = s_meta.trial;
  const slot_info_t* info = &s_meta.slots[slot - 1];
  char message[REASON_MAX_LEN];
  snprintf(message, sizeof message, "slot %c was still on trial at boot (its probe crashed or the board reset); "
           "slot %c stays active", slot_name(slot), s_meta.active ? slot_name(s_meta.active) : '-');
  s_meta.trial = SLOT_NONE;
  record_last(info->digest, info->version, "rolled-back", message, info->size);
  meta_save();
  send_event(1, "RolledBack", message, info->digest);
  send_ack(info->size, ORIGAMI_ACK_ROLLED_BACK);
  send_state();
}

void origami_core_set_factory_model(const uint8_t* model, uint32_t size, const char* version) {
  s_factory.model = model;
  s_factory.size = size;
  s_factory.version = version;
}

// The firmware's own model, written into a slot and left pending (its trial follows at once), when the
// storage has no model or this firmware's model is new to it. A model it already tried is not retried.
static void stage_factory_model(void) {
  if (!s_factory.model || !s_factory.size || s_factory.size > slot_capacity() || s_meta.pending) return;
  uint8_t digest[32];
  char hex[65];
  origami_sha256_t sha;
  origami_sha256_init(&sha);
  origami_sha256_update(&sha, s_factory.model, s_factory.size);
  origami_sha256_final(&sha, digest);
  origami_sha256_hex(digest, hex);
  if (strcmp(hex, s_meta.factory_digest) == 0) return;
  strcpy(s_meta.factory_digest, hex);
  const slot_info_t* active = s_meta.active ? &s_meta.slots[s_meta.active - 1] : 0;
  if (active && strcmp(active->digest, hex) == 0) {
    meta_save();  // it already runs this model (sent over the link before the firmware was flashed)
    return;
  }
  uint8_t slot = s_meta.active ? other_slot(s_meta.active) : SLOT_A;
  memset(&s_meta.slots[slot - 1], 0, sizeof(slot_info_t));
  meta_save();
  uint32_t span = (s_factory.size + META_BYTES - 1u) & ~(META_BYTES - 1u);
  if (origami_hal_storage_erase(slot_offset(slot), span)) return;
  for (uint32_t at = 0; at < s_factory.size; at += META_BYTES) {  // page-sized writes: short flash operations
    uint32_t n = s_factory.size - at < META_BYTES ? s_factory.size - at : META_BYTES;
    if (origami_hal_storage_write(slot_offset(slot) + at, s_factory.model + at, n)) return;
  }
  slot_info_t* info = &s_meta.slots[slot - 1];
  info->size = s_factory.size;
  strcpy(info->digest, hex);
  copy_text(info->version, sizeof info->version, s_factory.version ? s_factory.version : "firmware");
  s_meta.pending = slot;
  meta_save();
}

void origami_core_boot(void) {
  origami_decoder_init(&s_decoder, s_rx, ORIGAMI_MAX_PAYLOAD);
  memset(&s_transfer, 0, sizeof s_transfer);
  meta_load();
  if (s_meta.trial) roll_back_trial();
  stage_factory_model();
  if (s_meta.pending) try_pending();
  if (s_meta.active && s_loaded != s_meta.active) {
    const char* why = 0;
    s_meta.healthy = load_slot(s_meta.active, &why) == 0;
    s_loaded = s_meta.healthy ? s_meta.active : SLOT_NONE;
    copy_text(s_meta.health_reason, sizeof s_meta.health_reason, s_meta.healthy ? "" : why);
  }
}

void origami_core_poll(void) {
  int byte;
  while ((byte = origami_hal_read_byte()) >= 0) {
    uint32_t crc_errors = s_decoder.crc_errors;
    origami_decoder_feed(&s_decoder, (uint8_t)byte, on_frame);
    // A damaged frame mid-transfer was probably a chunk: ask for it again at once.
    if (s_decoder.crc_errors != crc_errors && s_transfer.active) send_ack(s_transfer.received, ORIGAMI_ACK_RESEND);
  }
}
