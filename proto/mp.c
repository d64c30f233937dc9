#include "proto/mp.h"

#include <string.h>

#include "proto/err.h"

static uint32_t be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint64_t be64(const uint8_t *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }

bool mp_utf8_valid(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    /* Most text is ASCII: eight bytes at a time while no high bit is set. */
    uint64_t w;
    while (n - i >= 8 && (memcpy(&w, s + i, 8), (w & 0x8080808080808080u) == 0)) i += 8;
    if (i == n) break;
    uint8_t c = s[i];
    if (c < 0x80) { i++; continue; }
    size_t len;
    uint32_t min, cp;
    if ((c & 0xe0) == 0xc0) { len = 2; min = 0x80; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { len = 3; min = 0x800; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { len = 4; min = 0x10000; cp = c & 0x07; }
    else return false;
    if (n - i < len) return false;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = cp << 6 | (s[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

int mp_peek(const mp_reader *r) {
  if (r->p >= r->end) return STOA_ETRUNCATED;
  uint8_t c = *r->p;
  if (c <= 0x7f || c == 0xcc || c == 0xcd || c == 0xce || c == 0xcf) return MP_UINT;
  if (c >= 0xe0 || (c >= 0xd0 && c <= 0xd3)) return MP_INT;
  if ((c & 0xf0) == 0x80 || c == 0xde || c == 0xdf) return MP_MAP;
  if ((c & 0xf0) == 0x90 || c == 0xdc || c == 0xdd) return MP_ARRAY;
  if ((c & 0xe0) == 0xa0 || (c >= 0xd9 && c <= 0xdb)) return MP_STR;
  if (c == 0xc0) return MP_NIL;
  if (c == 0xc2 || c == 0xc3) return MP_BOOL;
  if (c >= 0xc4 && c <= 0xc6) return MP_BIN;
  if (c == 0xca || c == 0xcb) return MP_FLOAT;
  if ((c >= 0xc7 && c <= 0xc9) || (c >= 0xd4 && c <= 0xd8)) return MP_EXT;
  return STOA_EMALFORMED; /* 0xc1 */
}

/* Reads a length-prefixed header: `tag` bytes of length after the type byte. */
static int read_len(mp_reader *r, unsigned lbytes, uint32_t *n) {
  if (mp_left(r) < 1 + (size_t)lbytes) return STOA_ETRUNCATED;
  const uint8_t *q = r->p + 1;
  *n = lbytes == 1 ? q[0] : lbytes == 2 ? be16(q) : be32(q);
  return 0;
}

static int read_container(mp_reader *r, uint32_t *n, int want, uint32_t per) {
  int t = mp_peek(r);
  if (t < 0) return t;
  if (t != want) return STOA_EMALFORMED;
  uint8_t c = *r->p;
  uint32_t cnt;
  unsigned hl;
  int e;
  if ((c & 0xf0) == 0x80 || (c & 0xf0) == 0x90) { cnt = c & 0x0f; hl = 0; }
  else if (c == 0xdc || c == 0xde) { if ((e = read_len(r, 2, &cnt))) return e; hl = 2; }
  else { if ((e = read_len(r, 4, &cnt))) return e; hl = 4; }
  /* Every element takes at least one byte: refuse counts the input cannot hold. */
  if ((uint64_t)cnt * per > mp_left(r) - 1 - hl) return STOA_ETRUNCATED;
  r->p += 1 + hl;
  *n = cnt;
  return 0;
}

int mp_read_array(mp_reader *r, uint32_t *n) { return read_container(r, n, MP_ARRAY, 1); }
int mp_read_map(mp_reader *r, uint32_t *n) { return read_container(r, n, MP_MAP, 2); }

static int read_blob(mp_reader *r, int want, const uint8_t **b, uint32_t *len) {
  int t = mp_peek(r);
  if (t < 0) return t;
  if (t != want) return STOA_EMALFORMED;
  uint8_t c = *r->p;
  uint32_t n;
  unsigned hl;
  int e;
  if ((c & 0xe0) == 0xa0) { n = c & 0x1f; hl = 0; }
  else {
    hl = (c == 0xd9 || c == 0xc4) ? 1 : (c == 0xda || c == 0xc5) ? 2 : 4;
    if ((e = read_len(r, hl, &n))) return e;
  }
  if (n > mp_left(r) - 1 - hl) return STOA_ETRUNCATED;
  const uint8_t *d = r->p + 1 + hl;
  if (want == MP_STR && !mp_utf8_valid(d, n)) return STOA_EUTF8;
  *b = d;
  *len = n;
  r->p = d + n;
  return 0;
}

int mp_read_str(mp_reader *r, const char **s, uint32_t *len) {
  return read_blob(r, MP_STR, (const uint8_t **)s, len);
}
int mp_read_bin(mp_reader *r, const uint8_t **b, uint32_t *len) {
  return read_blob(r, MP_BIN, b, len);
}
int mp_read_binn(mp_reader *r, const uint8_t **b, uint32_t len) {
  mp_reader save = *r;
  uint32_t n;
  int e = mp_read_bin(r, b, &n);
  if (e) return e;
  if (n != len) { *r = save; return STOA_EMALFORMED; }
  return 0;
}

/* Reads any integer into a sign flag and magnitude. */
static int read_integer(mp_reader *r, int64_t *sv, uint64_t *uv, bool *neg) {
  if (r->p >= r->end) return STOA_ETRUNCATED;
  uint8_t c = *r->p;
  size_t need;
  *neg = false;
  if (c <= 0x7f) { *uv = c; r->p++; return 0; }
  if (c >= 0xe0) { *sv = (int8_t)c; *neg = true; r->p++; return 0; }
  switch (c) {
  case 0xcc: case 0xd0: need = 1; break;
  case 0xcd: case 0xd1: need = 2; break;
  case 0xce: case 0xd2: need = 4; break;
  case 0xcf: case 0xd3: need = 8; break;
  default: return STOA_EMALFORMED;
  }
  if (mp_left(r) < 1 + need) return STOA_ETRUNCATED;
  const uint8_t *q = r->p + 1;
  uint64_t v = need == 1 ? q[0] : need == 2 ? be16(q) : need == 4 ? be32(q) : be64(q);
  if (c >= 0xd0) {
    int64_t s = need == 1 ? (int8_t)v : need == 2 ? (int16_t)v : need == 4 ? (int32_t)v : (int64_t)v;
    if (s < 0) { *sv = s; *neg = true; }
    else *uv = (uint64_t)s;
  } else {
    *uv = v;
  }
  r->p += 1 + need;
  return 0;
}

int mp_read_uint(mp_reader *r, uint64_t *v) {
  mp_reader save = *r;
  int64_t s;
  bool neg;
  int e = read_integer(r, &s, v, &neg);
  if (e) return e;
  if (neg) { *r = save; return STOA_EMALFORMED; }
  return 0;
}

int mp_read_int(mp_reader *r, int64_t *v) {
  mp_reader save = *r;
  uint64_t u;
  bool neg;
  int e = read_integer(r, v, &u, &neg);
  if (e) return e;
  if (!neg) {
    if (u > INT64_MAX) { *r = save; return STOA_ETOOBIG; }
    *v = (int64_t)u;
  }
  return 0;
}

int mp_read_bool(mp_reader *r, bool *v) {
  if (r->p >= r->end) return STOA_ETRUNCATED;
  if (*r->p != 0xc2 && *r->p != 0xc3) return STOA_EMALFORMED;
  *v = *r->p++ == 0xc3;
  return 0;
}

int mp_read_nil(mp_reader *r) {
  if (r->p >= r->end) return STOA_ETRUNCATED;
  if (*r->p != 0xc0) return STOA_EMALFORMED;
  r->p++;
  return 0;
}

/* Iterative would avoid recursion, but depth is bounded by MP_MAX_DEPTH. */
int mp_skip(mp_reader *r, int depth) {
  mp_reader save = *r;
  int t = mp_peek(r), e = 0;
  uint32_t n, len;
  const uint8_t *b;
  if (t < 0) return t;
  switch (t) {
  case MP_NIL: case MP_BOOL: r->p++; return 0;
  case MP_UINT: case MP_INT: {
    int64_t sv; uint64_t uv; bool neg;
    return read_integer(r, &sv, &uv, &neg);
  }
  case MP_FLOAT: {
    size_t need = *r->p == 0xca ? 5 : 9;
    if (mp_left(r) < need) return STOA_ETRUNCATED;
    r->p += need;
    return 0;
  }
  case MP_STR: return read_blob(r, MP_STR, &b, &len);
  case MP_BIN: return read_blob(r, MP_BIN, &b, &len);
  case MP_EXT: return STOA_EEXT;
  case MP_ARRAY: case MP_MAP:
    if (depth >= MP_MAX_DEPTH) return STOA_ETOODEEP;
    e = t == MP_ARRAY ? mp_read_array(r, &n) : mp_read_map(r, &n);
    if (e) return e;
    {
      uint64_t items = t == MP_MAP ? (uint64_t)n * 2 : n;
      for (uint64_t i = 0; i < items; i++)
        if ((e = mp_skip(r, depth + 1))) { *r = save; return e; }
    }
    return 0;
  default: return STOA_EMALFORMED;
  }
}

int mp_read_raw(mp_reader *r, const uint8_t **start, size_t *len, int depth) {
  const uint8_t *s = r->p;
  int e = mp_skip(r, depth);
  if (e) return e;
  *start = s;
  *len = (size_t)(r->p - s);
  return 0;
}

int mp_check(const void *buf, size_t len) {
  mp_reader r;
  mp_reader_init(&r, buf, len);
  int e = mp_skip(&r, 0);
  if (e) return e;
  return mp_left(&r) ? STOA_ETRAILING : 0;
}
