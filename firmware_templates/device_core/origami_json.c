// Strict, bounded JSON scanning and base64 for the device core (see origami_json.h).
#include "origami_json.h"

#include <string.h>

typedef struct {
  const char* p;
  const char* end;
} cursor_t;

static void skip_ws(cursor_t* c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) ++c->p;
}

static int is_hex(char ch) {
  return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

// A string starting at c->p ('"'); leaves c->p after the closing quote. `escaped` tells whether it had any.
static int scan_string(cursor_t* c, int* escaped) {
  if (c->p >= c->end || *c->p != '"') return -1;
  ++c->p;
  *escaped = 0;
  while (c->p < c->end) {
    unsigned char ch = (unsigned char)*c->p++;
    if (ch == '"') return 0;
    if (ch < 0x20) return -1;
    if (ch == '\\') {
      *escaped = 1;
      if (c->p >= c->end) return -1;
      char e = *c->p++;
      if (e == 'u') {
        for (int i = 0; i < 4; ++i, ++c->p)
          if (c->p >= c->end || !is_hex(*c->p)) return -1;
      } else if (!strchr("\"\\/bfnrt", e) || e == '\0') {
        return -1;
      }
    }
  }
  return -1;
}

static int scan_digits(cursor_t* c) {
  const char* start = c->p;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9') ++c->p;
  return c->p > start ? 0 : -1;
}

static int scan_number(cursor_t* c) {
  if (c->p < c->end && *c->p == '-') ++c->p;
  if (c->p < c->end && *c->p == '0') {
    ++c->p;
  } else if (scan_digits(c) != 0) {
    return -1;
  }
  if (c->p < c->end && *c->p == '.') {
    ++c->p;
    if (scan_digits(c) != 0) return -1;
  }
  if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
    ++c->p;
    if (c->p < c->end && (*c->p == '+' || *c->p == '-')) ++c->p;
    if (scan_digits(c) != 0) return -1;
  }
  return 0;
}

static int scan_literal(cursor_t* c, const char* word) {
  size_t n = strlen(word);
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return -1;
  c->p += n;
  return 0;
}

static int scan_value(cursor_t* c, int depth);

// An object or array starting at c->p; when `want` is set (objects only), the span of that member.
static int scan_container(cursor_t* c, int depth, const char* want, origami_span_t* found, int* hits) {
  if (depth >= ORIGAMI_JSON_MAX_DEPTH) return -1;
  char open = *c->p++;
  char close = open == '{' ? '}' : ']';
  skip_ws(c);
  if (c->p < c->end && *c->p == close) {
    ++c->p;
    return 0;
  }
  for (;;) {
    skip_ws(c);
    int matches = 0;
    if (open == '{') {
      const char* key = c->p + 1;
      int escaped;
      if (scan_string(c, &escaped) != 0 || escaped) return -1;
      size_t key_len = (size_t)(c->p - key - 1);
      matches = want && strlen(want) == key_len && memcmp(key, want, key_len) == 0;
      skip_ws(c);
      if (c->p >= c->end || *c->p++ != ':') return -1;
      skip_ws(c);
    }
    const char* value = c->p;
    if (scan_value(c, depth + 1) != 0) return -1;
    if (matches) {
      ++*hits;
      found->at = value;
      found->len = (uint32_t)(c->p - value);
    }
    skip_ws(c);
    if (c->p >= c->end) return -1;
    char next = *c->p++;
    if (next == close) return 0;
    if (next != ',') return -1;
  }
}

static int scan_value(cursor_t* c, int depth) {
  if (c->p >= c->end) return -1;
  int escaped, hits = 0;
  switch (*c->p) {
    case '{':
    case '[':
      return scan_container(c, depth, 0, 0, &hits);
    case '"':
      return scan_string(c, &escaped);
    case 't':
      return scan_literal(c, "true");
    case 'f':
      return scan_literal(c, "false");
    case 'n':
      return scan_literal(c, "null");
    default:
      return scan_number(c);
  }
}

int origami_json_member(origami_span_t doc, const char* key, origami_span_t* value) {
  cursor_t c = {doc.at, doc.at + doc.len};
  int hits = 0;
  skip_ws(&c);
  if (c.p >= c.end || *c.p != '{') return ORIGAMI_JSON_MALFORMED;
  if (scan_container(&c, 0, key, value, &hits) != 0) return ORIGAMI_JSON_MALFORMED;
  skip_ws(&c);
  if (c.p != c.end || hits > 1) return ORIGAMI_JSON_MALFORMED;
  return hits ? ORIGAMI_JSON_OK : ORIGAMI_JSON_MISSING;
}

int origami_json_string(origami_span_t value, char* out, uint32_t cap) {
  if (value.len < 2 || value.at[0] != '"' || value.at[value.len - 1] != '"') return -1;
  uint32_t n = value.len - 2;
  if (n + 1 > cap) return -1;
  for (uint32_t i = 0; i < n; ++i) {
    char ch = value.at[1 + i];
    if (ch < 0x20 || ch > 0x7E || ch == '"' || ch == '\\') return -1;
    out[i] = ch;
  }
  out[n] = '\0';
  return (int)n;
}

int origami_json_uint(origami_span_t value, uint32_t* out) {
  if (value.len == 0 || value.len > 10 || (value.len > 1 && value.at[0] == '0')) return -1;
  uint64_t v = 0;
  for (uint32_t i = 0; i < value.len; ++i) {
    if (value.at[i] < '0' || value.at[i] > '9') return -1;
    v = v * 10u + (uint64_t)(value.at[i] - '0');
  }
  if (v > 0xFFFFFFFFu) return -1;
  *out = (uint32_t)v;
  return 0;
}

int origami_json_is_null(origami_span_t value) { return value.len == 4 && memcmp(value.at, "null", 4) == 0; }

static int sextet(char ch) {
  if (ch >= 'A' && ch <= 'Z') return ch - 'A';
  if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9') return ch - '0' + 52;
  if (ch == '+') return 62;
  if (ch == '/') return 63;
  return -1;
}

int origami_base64_decode(const char* text, uint32_t len, uint8_t* out, uint32_t cap) {
  if (len % 4u) return -1;
  uint32_t n = 0;
  for (uint32_t i = 0; i < len; i += 4) {
    int pad = (text[i + 3] == '=') + (text[i + 2] == '=' && text[i + 3] == '=');
    if (pad && i + 4 != len) return -1;
    int v[4];
    for (int k = 0; k < 4 - pad; ++k)
      if ((v[k] = sextet(text[i + k])) < 0) return -1;
    for (int k = 4 - pad; k < 4; ++k) v[k] = 0;
    uint32_t triple = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) | (uint32_t)v[3];
    uint8_t bytes[3] = {(uint8_t)(triple >> 16), (uint8_t)(triple >> 8), (uint8_t)triple};
    for (int k = 0; k < 3 - pad; ++k) {
      if (n >= cap) return -1;
      out[n++] = bytes[k];
    }
  }
  return (int)n;
}
