/*
 * body.c - record bodies to and from options and JSON, and edits (see body.h;
 * CSV is in body_csv.c).
 *
 * Bodies are built into a scratch buffer of key/value pairs and only then
 * framed by a map header into the caller's buffer, because the number of
 * pairs is known only once every value has been parsed (blank cells vanish,
 * repeated options merge).  Old bodies and bodies to display are read with
 * the strict reader of proto/mp.h, never with msgpack-c's unpacker.
 */
#include "cli/body.h"
#include "cli/body_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "proto/err.h"
#include "proto/mp.h"

#define BODY__LIST_MAX 256   /* items of one list, whatever the table says */
#define BODY__WORD_MAX 64    /* case-folded words: countries, themes, enums */
#define BODY__TS_MAX 253402300799999ULL /* 9999-12-31T23:59:59.999Z */

/* Top-level members of an export that are the record's, not the body's. */
static const char *const body__meta[] = {
  "id", "kind", "owner", "signer", "ts", "hash", "version", NULL,
};

/* ---- errors ----------------------------------------------------------- */

int body__fail(body_error *err, const char *field, int code,
               const char *fmt, ...) {
  size_t i = 0;
  if (!err) return code;
  /* The name may be the user's (an unknown option, a JSON key): no control
   * characters reach the terminal. */
  for (; field && field[i] && i + 1 < sizeof err->field; i++)
    err->field[i] = ((unsigned char)field[i] < 0x20 || field[i] == 0x7f) ? '?' : field[i];
  err->field[i] = '\0';
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return code;
}

/* A value as it may appear in a message: at most 40 bytes, cut on a
 * character boundary, control bytes shown as '?'. */
static const char *body__show(char dst[48], const char *s, size_t n) {
  size_t i = 0, o = 0;
  bool utf8 = mp_utf8_valid((const uint8_t *)s, n);
  while (i < n && o < 40) {
    unsigned char c = (unsigned char)s[i];
    dst[o++] = (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8)) ? '?' : (char)c;
    i++;
  }
  if (i < n) {
    while (o > 0 && ((unsigned char)dst[o - 1] & 0xc0) == 0x80) o--;
    if (o > 0 && ((unsigned char)dst[o - 1] & 0xc0) == 0xc0) o--;
    memcpy(dst + o, "...", 3);
    o += 3;
  }
  dst[o] = '\0';
  return dst;
}

/* "a, b, c" for a message, ending in "..." when it would exceed cap. */
static const char *body__vocab_list(char *dst, size_t cap,
                                    const char *const *vocab) {
  size_t o = 0;
  dst[0] = '\0';
  for (size_t i = 0; vocab && vocab[i]; i++) {
    size_t w = strlen(vocab[i]);
    if (o + w + 2 + 4 >= cap) {
      snprintf(dst + o, cap - o, "...");
      break;
    }
    o += (size_t)snprintf(dst + o, cap - o, "%s%s", i ? ", " : "", vocab[i]);
  }
  return dst;
}

/* ---- text helpers ------------------------------------------------------ */

static bool body__blank_char(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void body__trim(const char **s, size_t *n) {
  while (*n && body__blank_char(**s)) (*s)++, (*n)--;
  while (*n && body__blank_char((*s)[*n - 1])) (*n)--;
}

bool body__blank(const char *s, size_t n) {
  body__trim(&s, &n);
  return n == 0;
}

static int body__hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool body__unhex(const char *s, size_t n, uint8_t *out, size_t outlen) {
  if (n != 2 * outlen) return false;
  for (size_t i = 0; i < outlen; i++) {
    int hi = body__hexval(s[2 * i]), lo = body__hexval(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return true;
}

void body__hex(char *out, const uint8_t *b, size_t n) {
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = d[b[i] >> 4];
    out[2 * i + 1] = d[b[i] & 15];
  }
  out[2 * n] = '\0';
}

/* ASCII case folding into dst (cap bytes); false when it does not fit. */
static bool body__fold(char *dst, size_t cap, const char *s, size_t n, bool up) {
  if (n >= cap) return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (up && c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
    if (!up && c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    dst[i] = c;
  }
  dst[n] = '\0';
  return true;
}

static bool body__ieq(const char *s, size_t n, const char *word) {
  size_t w = strlen(word);
  if (n != w) return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (c != word[i]) return false;
  }
  return true;
}

/* Decimal digits only, no sign: the caller handles '-'. */
static bool body__parse_u64(const char *s, size_t n, uint64_t *v) {
  uint64_t x = 0;
  if (n == 0) return false;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    unsigned d = (unsigned)(s[i] - '0');
    if (x > (UINT64_MAX - d) / 10) return false;
    x = x * 10 + d;
  }
  *v = x;
  return true;
}

static bool body__parse_int(const char *s, size_t n, int64_t *v) {
  bool neg = n > 0 && s[0] == '-';
  uint64_t u;
  if (!body__parse_u64(s + neg, n - neg, &u)) return false;
  if (neg) {
    if (u > (uint64_t)INT64_MAX + 1) return false;
    *v = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
  } else {
    if (u > INT64_MAX) return false;
    *v = (int64_t)u;
  }
  return true;
}

/* Fixed-width decimal field of an ISO date. */
static bool body__digits(const char *s, size_t w, int *v) {
  int x = 0;
  for (size_t i = 0; i < w; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    x = x * 10 + (s[i] - '0');
  }
  *v = x;
  return true;
}

/* "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SS[.mmm]Z" (UTC) or ms since the epoch. */
static bool body__parse_ts(const char *s, size_t n, uint64_t *ms) {
  static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int y, mo, d, h = 0, mi = 0, se = 0, frac = 0;
  if (n && s[0] >= '0' && s[0] <= '9' && memchr(s, '-', n) == NULL)
    return body__parse_u64(s, n, ms);
  if (n < 10 || !body__digits(s, 4, &y) || s[4] != '-' ||
      !body__digits(s + 5, 2, &mo) || s[7] != '-' || !body__digits(s + 8, 2, &d))
    return false;
  if (n > 10) {
    if (n != 20 && n != 24) return false;
    if ((s[10] != 'T' && s[10] != 't') || !body__digits(s + 11, 2, &h) ||
        s[13] != ':' || !body__digits(s + 14, 2, &mi) || s[16] != ':' ||
        !body__digits(s + 17, 2, &se))
      return false;
    if (n == 24 && (s[19] != '.' || !body__digits(s + 20, 3, &frac))) return false;
    if (s[n - 1] != 'Z' && s[n - 1] != 'z') return false;
  }
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
      mi > 59 || se > 59)
    return false;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo == 2 && d == 29 && !leap) return false;
  struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                  .tm_hour = h, .tm_min = mi, .tm_sec = se};
  time_t t = timegm(&tm);
  if (t < 0) return false;
  *ms = (uint64_t)t * 1000 + (uint64_t)frac;
  return true;
}

/* ISO-8601 UTC, with milliseconds only when there are some; beyond year
 * 9999 the plain number, which body__parse_ts reads back. */
void body__fmt_ts(uint64_t ms, char *out, size_t cap) {
  struct tm tm;
  time_t t = (time_t)(ms / 1000);
  if (ms > BODY__TS_MAX || !gmtime_r(&t, &tm)) {
    snprintf(out, cap, "%" PRIu64, ms);
    return;
  }
  int n = snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  if (n < 0 || (size_t)n >= cap) return;
  if (ms % 1000)
    snprintf(out + n, cap - (size_t)n, ".%03uZ", (unsigned)(ms % 1000));
  else
    snprintf(out + n, cap - (size_t)n, "Z");
}

void body__fmt_ref(const body_formatter *fmt, const uint8_t *ekey,
                   char *out, size_t cap) {
  if (fmt && fmt->ref) {
    out[0] = '\0';
    fmt->ref(fmt->ctx, ekey, out, cap);
    out[cap - 1] = '\0';
    return;
  }
  char hex[2 * ID_LEN + 1];
  body__hex(hex, ekey + KEY_LEN, ID_LEN);
  snprintf(out, cap, "%s", hex);
}

/* ---- packing ------------------------------------------------------------ */

static int body__pack_str(msgpack_packer *pk, const char *s, size_t n) {
  if (msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, s, n)) return STOA_ENOMEM;
  return 0;
}

static int body__pack_bin(msgpack_packer *pk, const uint8_t *b, size_t n) {
  if (msgpack_pack_bin(pk, n) || msgpack_pack_bin_body(pk, b, n)) return STOA_ENOMEM;
  return 0;
}

/* Frames `count` pairs as a map at the end of out, or leaves out as it was. */
static int body__finish(msgpack_sbuffer *out, uint32_t count,
                        const msgpack_sbuffer *pairs, body_error *err) {
  size_t before = out->size;
  msgpack_packer pk;
  if (pairs->size > REC_MAX)
    return body__fail(err, "", STOA_ETOOBIG, "body is larger than %d bytes", REC_MAX);
  if (count > SCHEMA_MAX_FIELDS)
    return body__fail(err, "", STOA_ESCHEMA, "more than %d fields", SCHEMA_MAX_FIELDS);
  msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
  if (msgpack_pack_map(&pk, count) || body__write(out, pairs->data, pairs->size)) {
    out->size = before;
    return STOA_ENOMEM;
  }
  return 0;
}

/* SF_STR: valid UTF-8, no control characters (C0, DEL, C1) but \n and \t,
 * and those not in a title either: the rule of schema_check, applied here so
 * that the message can quote the value. */
static int body__check_str(const schema_field *f, const char *s, size_t n,
                           bool item, body_error *err) {
  char show[48];
  const uint8_t *u = (const uint8_t *)s;
  if (!mp_utf8_valid(u, n))
    return body__fail(err, f->name, STOA_ESCHEMA, "not valid UTF-8 text");
  for (size_t i = 0; i < n; i++) {
    unsigned cp = u[i];
    if (cp >= 0x80 && cp != 0xc2) continue; /* C1 is U+0080..U+009F: c2 80..c2 9f */
    if (cp == 0xc2) cp = i + 1 < n ? u[i + 1] : 0xa0;
    bool ctl = cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
    if (ctl && ((f->flags & SFF_TITLE) || (cp != '\n' && cp != '\t')))
      return body__fail(err, f->name, STOA_ESCHEMA, "control character U+%04X in \"%s\"",
                        cp, body__show(show, s, n));
  }
  if (!item && f->max && n > f->max)
    return body__fail(err, f->name, STOA_ESCHEMA, "%zu bytes, at most %" PRIu32 " allowed",
                      n, f->max);
  return 0;
}

static int body__pack_ref(msgpack_packer *pk, const schema_field *f, const char *s,
                          size_t n, const body_resolver *res, body_error *err) {
  char show[48], text[2 * EKEY_LEN + 1];
  uint8_t ek[EKEY_LEN] = {0};
  int r;
  if (n == 0 || n > 2 * EKEY_LEN || !body__fold(text, sizeof text, s, n, false))
    return body__fail(err, f->name, STOA_ESCHEMA, "\"%s\" is not an entry id",
                      body__show(show, s, n));
  for (size_t i = 0; i < n; i++)
    if (body__hexval(text[i]) < 0)
      return body__fail(err, f->name, STOA_ESCHEMA, "\"%s\" is not an entry id (hex digits)",
                        body__show(show, s, n));
  if (n == 2 * EKEY_LEN) {
    body__unhex(text, n, ek, EKEY_LEN); /* a whole entry key needs no look-up */
  } else if (res && res->resolve) {
    r = res->resolve(res->ctx, text, ek);
    if (r == STOA_ENOTFOUND)
      return body__fail(err, f->name, r, "no entry matches \"%s\"", text);
    if (r == STOA_EAMBIGUOUS)
      return body__fail(err, f->name, r,
                        "\"%s\" matches more than one entry; give more digits", text);
    if (r)
      return body__fail(err, f->name, r, "cannot look up \"%s\": %s",
                        body__show(show, s, n), stoa_strerror(r));
  } else {
    return body__fail(err, f->name, STOA_ESCHEMA,
                      "\"%s\" cannot be looked up here; give all %d hex digits",
                      body__show(show, s, n), 2 * EKEY_LEN);
  }
  return body__pack_bin(pk, ek, EKEY_LEN);
}

/*
 * Packs one value (a scalar, or one item of a list) of field f from its
 * text form.  A scalar SF_STR is taken as is; everything else is trimmed.
 */
static int body__pack_text(msgpack_packer *pk, const schema_field *f,
                           const char *s, size_t n, bool item,
                           const body_resolver *res, body_error *err) {
  char show[48], word[BODY__WORD_MAX], vl[sizeof ((body_error *)0)->msg];
  bool ok = true, b;
  int64_t iv;
  uint64_t uv;
  uint8_t key[KEY_LEN];
  int r;

  if (f->type != SF_STR || item) body__trim(&s, &n);
  body__show(show, s, n);
  if (f->type != SF_STR && f->type != SF_INT && f->type != SF_BOOL &&
      f->type != SF_REF && f->type != SF_KEY && f->type != SF_TS &&
      !mp_utf8_valid((const uint8_t *)s, n))
    return body__fail(err, f->name, STOA_ESCHEMA, "not valid UTF-8 text");

  switch (f->type) {
  case SF_STR:
    if ((r = body__check_str(f, s, n, item, err))) return r;
    return body__pack_str(pk, s, n);
  case SF_INT:
    if (!body__parse_int(s, n, &iv))
      return body__fail(err, f->name, STOA_ESCHEMA, "\"%s\" is not a whole number", show);
    if (f->min < f->maxv && (iv < f->min || iv > f->maxv))
      return body__fail(err, f->name, STOA_ESCHEMA,
                        "%" PRId64 " is out of range (%" PRId64 " to %" PRId64 ")", iv,
                        f->min, f->maxv);
    return msgpack_pack_int64(pk, iv) ? STOA_ENOMEM : 0;
  case SF_BOOL:
    if (body__ieq(s, n, "true") || body__ieq(s, n, "yes") || body__ieq(s, n, "1")) b = true;
    else if (body__ieq(s, n, "false") || body__ieq(s, n, "no") || body__ieq(s, n, "0")) b = false;
    else
      return body__fail(err, f->name, STOA_ESCHEMA,
                        "\"%s\" is not true or false (or yes/no, 1/0)", show);
    return (b ? msgpack_pack_true(pk) : msgpack_pack_false(pk)) ? STOA_ENOMEM : 0;
  case SF_COUNTRY:
    if (!body__fold(word, sizeof word, s, n, true) || !schema_country_valid(word, n))
      return body__fail(err, f->name, STOA_ESCHEMA,
                        "\"%s\" is not an ISO 3166-1 alpha-2 country code (such as FR)", show);
    return body__pack_str(pk, word, n);
  case SF_THEME:
  case SF_ENUM:
    ok = body__fold(word, sizeof word, s, n, false);
    if (ok)
      ok = f->type == SF_THEME ? schema_theme_valid(word, n)
                               : schema_enum_valid(f->vocab, word, n);
    if (!ok)
      return body__fail(err, f->name, STOA_ESCHEMA, "\"%s\" is not one of: %s", show,
                        body__vocab_list(vl, sizeof vl - 20 - strlen(show),
                                         f->type == SF_THEME ? schema_themes : f->vocab));
    return body__pack_str(pk, word, n);
  case SF_LANG:
    if (!schema_lang_valid(s, n))
      return body__fail(err, f->name, STOA_ESCHEMA,
                        "\"%s\" is not a BCP 47 language tag (such as fr or pt-BR)", show);
    return body__pack_str(pk, s, n);
  case SF_URL:
    ok = schema_url_valid(s, n);
    if (!ok)
      return body__fail(err, f->name, STOA_ESCHEMA, "\"%s\" is not an http(s):// URL", show);
    return body__pack_str(pk, s, n);
  case SF_EMAIL:
    if (!schema_email_valid(s, n))
      return body__fail(err, f->name, STOA_ESCHEMA, "\"%s\" is not an e-mail address", show);
    return body__pack_str(pk, s, n);
  case SF_PHONE:
    if (!schema_phone_valid(s, n))
      return body__fail(err, f->name, STOA_ESCHEMA,
                        "\"%s\" is not a phone number (digits, spaces and + - ( ) . /)",
                        show);
    return body__pack_str(pk, s, n);
  case SF_PERIOD:
    if (!schema_period_valid(s, n))
      return body__fail(err, f->name, STOA_ESCHEMA,
                        "\"%s\" is not a period (YYYY, YYYY-YYYY or YYYY-)", show);
    return body__pack_str(pk, s, n);
  case SF_ADDR:
    if (!schema_addr_valid(s, n))
      return body__fail(err, f->name, STOA_ESCHEMA, "\"%s\" is not host:port", show);
    return body__pack_str(pk, s, n);
  case SF_REF:
    return body__pack_ref(pk, f, s, n, res, err);
  case SF_KEY:
    if (!body__unhex(s, n, key, KEY_LEN))
      return body__fail(err, f->name, STOA_ESCHEMA, "\"%s\" is not a key (64 hex digits)",
                        show);
    return body__pack_bin(pk, key, KEY_LEN);
  case SF_TS:
    if (!body__parse_ts(s, n, &uv))
      return body__fail(err, f->name, STOA_ESCHEMA,
                        "\"%s\" is not a time (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or ms)",
                        show);
    return msgpack_pack_uint64(pk, uv) ? STOA_ENOMEM : 0;
  default:
    return body__fail(err, f->name, STOA_ESCHEMA, "field of unknown type %d", f->type);
  }
}

static const char *body__type_name(int type) {
  switch (type) {
  case SF_INT: return "a whole number";
  case SF_BOOL: return "true or false";
  case SF_TS: return "a time";
  case SF_REF: return "an entry id";
  case SF_KEY: return "a key";
  default: return "a string";
  }
}

/* One value of field f from JSON: its text form, or a number or boolean
 * where the type takes one. */
static int body__pack_json_item(msgpack_packer *pk, const schema_field *f,
                                const json_t *v, const body_resolver *res,
                                body_error *err) {
  if (json_is_string(v))
    return body__pack_text(pk, f, json_string_value(v), json_string_length(v), true,
                           res, err);
  if (json_is_integer(v) && f->type == SF_INT) {
    int64_t iv = (int64_t)json_integer_value(v);
    if (f->min < f->maxv && (iv < f->min || iv > f->maxv))
      return body__fail(err, f->name, STOA_ESCHEMA,
                        "%" PRId64 " is out of range (%" PRId64 " to %" PRId64 ")", iv,
                        f->min, f->maxv);
    return msgpack_pack_int64(pk, iv) ? STOA_ENOMEM : 0;
  }
  if (json_is_integer(v) && f->type == SF_TS && json_integer_value(v) >= 0)
    return msgpack_pack_uint64(pk, (uint64_t)json_integer_value(v)) ? STOA_ENOMEM : 0;
  if (json_is_boolean(v) && f->type == SF_BOOL)
    return (json_is_true(v) ? msgpack_pack_true(pk) : msgpack_pack_false(pk)) ? STOA_ENOMEM
                                                                              : 0;
  return body__fail(err, f->name, STOA_ESCHEMA, "expected %s", body__type_name(f->type));
}

/* A list being built: items packed one after another, with their offsets
 * so that a repeated item can be dropped (lists hold unique items). */
typedef struct body__list {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  size_t off[BODY__LIST_MAX + 1];
  uint32_t n;
} body__list;

static void body__list_init(body__list *l) {
  msgpack_sbuffer_init(&l->sb);
  msgpack_packer_init(&l->pk, &l->sb, msgpack_sbuffer_write);
  l->n = 0;
}

/* Accepts the item just packed after off[n], or drops it as a repeat.  The
 * repeat check is quadratic in the items, which are at most 256. */
static int body__list_commit(body__list *l, const schema_field *f, body_error *err) {
  size_t start = l->off[l->n], len = l->sb.size - start;
  uint32_t lim = f->max && f->max < BODY__LIST_MAX ? f->max : BODY__LIST_MAX;
  for (uint32_t i = 0; i < l->n; i++) {
    size_t ilen = l->off[i + 1] - l->off[i];
    if (ilen == len && memcmp(l->sb.data + l->off[i], l->sb.data + start, len) == 0) {
      l->sb.size = start;
      return 0;
    }
  }
  if (l->n >= lim)
    return body__fail(err, f->name, STOA_ESCHEMA, "more than %" PRIu32 " items", lim);
  l->off[++l->n] = l->sb.size;
  return 0;
}

/* Adds the ';'-separated items of one text value. */
static int body__list_add_text(body__list *l, const schema_field *f, const char *s,
                               size_t n, const body_resolver *res, body_error *err) {
  int r;
  while (n > 0) {
    const char *semi = memchr(s, ';', n);
    size_t w = semi ? (size_t)(semi - s) : n;
    if (!body__blank(s, w)) {
      l->off[l->n] = l->sb.size;
      if ((r = body__pack_text(&l->pk, f, s, w, true, res, err))) return r;
      if ((r = body__list_commit(l, f, err))) return r;
    }
    s += w;
    n -= w;
    if (semi) s++, n--;
  }
  return 0;
}

/* Packs the field's key and the array, when it has items. */
static int body__list_emit(msgpack_packer *pk, const schema_field *f,
                           const body__list *l, bool *packed) {
  *packed = false;
  if (l->n == 0) return 0;
  if (body__pack_str(pk, f->name, strlen(f->name)) || msgpack_pack_array(pk, l->n) ||
      pk->callback(pk->data, l->sb.data, l->sb.size))
    return STOA_ENOMEM;
  *packed = true;
  return 0;
}

/* A name as typed (an option, a CSV header) against a field's name: '-'
 * stands for '_', so that --member-of works as well as --member_of. */
static bool body__name_eq(const char *typed, const char *name) {
  for (; *typed && *name; typed++, name++)
    if (*typed != *name && !(*typed == '-' && *name == '_')) return false;
  return *typed == *name;
}

static const schema_field *body__field_of(int kind, const char *typed) {
  size_t nf;
  const schema_field *fs = schema_fields(kind, &nf);
  for (size_t j = 0; j < nf; j++)
    if (body__name_eq(typed, fs[j].name)) return &fs[j];
  return NULL;
}

/* Packs key and value of field f from the pairs that name it; *packed says
 * whether the field ended up in the body. */
static int body__pack_kv_field(msgpack_packer *pk, const schema_field *f,
                               const body_kv *kv, size_t n, const body_resolver *res,
                               bool *packed, body_error *err) {
  int r = 0;
  *packed = false;
  if (f->flags & SFF_LIST) {
    body__list l;
    body__list_init(&l);
    for (size_t i = 0; i < n && r == 0; i++)
      if (kv[i].value && body__name_eq(kv[i].field, f->name))
        r = body__list_add_text(&l, f, kv[i].value, strlen(kv[i].value), res, err);
    if (r == 0) r = body__list_emit(pk, f, &l, packed);
    msgpack_sbuffer_destroy(&l.sb);
    return r;
  }
  const char *v = NULL;
  for (size_t i = 0; i < n; i++) {
    if (!kv[i].value || !body__name_eq(kv[i].field, f->name) ||
        body__blank(kv[i].value, strlen(kv[i].value)))
      continue;
    if (v)
      return body__fail(err, f->name, STOA_ESCHEMA, "given more than once");
    v = kv[i].value;
  }
  if (!v) return 0;
  if ((r = body__pack_str(pk, f->name, strlen(f->name)))) return r;
  if ((r = body__pack_text(pk, f, v, strlen(v), false, res, err))) return r;
  *packed = true;
  return 0;
}

/* Every pair must name a field of the kind. */
static int body__check_names(int kind, const body_kv *kv, size_t n, body_error *err) {
  for (size_t i = 0; i < n; i++) {
    if (!kv[i].field) return body__fail(err, "", STOA_EINVAL, "field without a name");
    if (!body__field_of(kind, kv[i].field))
      return body__fail(err, kv[i].field, STOA_ESCHEMA, "unknown field");
  }
  return 0;
}

int body_from_kv(int kind, const body_kv *kv, size_t n, const body_resolver *res,
                 msgpack_sbuffer *out, body_error *err) {
  size_t nf;
  const schema_field *fs = schema_fields(kind, &nf);
  msgpack_sbuffer pairs;
  msgpack_packer pk;
  uint32_t count = 0;
  bool packed;
  int r;

  if (!out || (n && !kv)) return body__fail(err, "", STOA_EINVAL, "bad arguments");
  if (!fs || nf == 0) return body__fail(err, "", STOA_EKIND, "unknown record kind");
  if ((r = body__check_names(kind, kv, n, err))) return r;
  msgpack_sbuffer_init(&pairs);
  msgpack_packer_init(&pk, &pairs, msgpack_sbuffer_write);
  for (size_t j = 0; j < nf; j++) {
    if ((r = body__pack_kv_field(&pk, &fs[j], kv, n, res, &packed, err))) goto out;
    count += packed;
  }
  r = body__finish(out, count, &pairs, err);
out:
  msgpack_sbuffer_destroy(&pairs);
  return r;
}

/* ---- JSON in ------------------------------------------------------------ */

/* Any JSON value, as the data model keeps unknown fields.  `depth` counts
 * the containers around v, the body's own map included, so that the result
 * passes mp_check. */
static int body__pack_json_any(msgpack_packer *pk, const json_t *v, int depth,
                               const char *field, body_error *err) {
  int r;
  switch (json_typeof(v)) {
  case JSON_STRING:
    if (!mp_utf8_valid((const uint8_t *)json_string_value(v), json_string_length(v)))
      return body__fail(err, field, STOA_EUTF8, "not valid UTF-8 text");
    return body__pack_str(pk, json_string_value(v), json_string_length(v));
  case JSON_INTEGER:
    return msgpack_pack_int64(pk, (int64_t)json_integer_value(v)) ? STOA_ENOMEM : 0;
  case JSON_REAL:
    return msgpack_pack_double(pk, json_real_value(v)) ? STOA_ENOMEM : 0;
  case JSON_TRUE: return msgpack_pack_true(pk) ? STOA_ENOMEM : 0;
  case JSON_FALSE: return msgpack_pack_false(pk) ? STOA_ENOMEM : 0;
  case JSON_NULL: return msgpack_pack_nil(pk) ? STOA_ENOMEM : 0;
  case JSON_ARRAY: {
    size_t i;
    const json_t *e;
    if (depth >= MP_MAX_DEPTH)
      return body__fail(err, field, STOA_ETOODEEP, "nested more than %d deep", MP_MAX_DEPTH);
    if (json_array_size(v) > UINT32_MAX || msgpack_pack_array(pk, (uint32_t)json_array_size(v)))
      return STOA_ENOMEM;
    json_array_foreach(v, i, e)
      if ((r = body__pack_json_any(pk, e, depth + 1, field, err))) return r;
    return 0;
  }
  case JSON_OBJECT: {
    const char *k;
    size_t klen;
    const json_t *e;
    if (depth >= MP_MAX_DEPTH)
      return body__fail(err, field, STOA_ETOODEEP, "nested more than %d deep", MP_MAX_DEPTH);
    if (json_object_size(v) > UINT32_MAX || msgpack_pack_map(pk, (uint32_t)json_object_size(v)))
      return STOA_ENOMEM;
    json_object_keylen_foreach((json_t *)v, k, klen, e) {
      if (!mp_utf8_valid((const uint8_t *)k, klen))
        return body__fail(err, field, STOA_EUTF8, "key not valid UTF-8");
      if ((r = body__pack_str(pk, k, klen))) return r;
      if ((r = body__pack_json_any(pk, e, depth + 1, field, err))) return r;
    }
    return 0;
  }
  }
  return STOA_EINVAL;
}

static int body__pack_json_field(msgpack_packer *pk, const schema_field *f,
                                 const json_t *v, const body_resolver *res,
                                 bool *packed, body_error *err) {
  int r = 0;
  *packed = false;
  if (f->flags & SFF_LIST) {
    body__list l;
    size_t i;
    const json_t *e;
    body__list_init(&l);
    if (json_is_string(v)) {
      r = body__list_add_text(&l, f, json_string_value(v), json_string_length(v), res, err);
    } else if (json_is_array(v)) {
      json_array_foreach(v, i, e) {
        if (json_is_null(e) || (json_is_string(e) &&
                                body__blank(json_string_value(e), json_string_length(e))))
          continue;
        l.off[l.n] = l.sb.size;
        if ((r = body__pack_json_item(&l.pk, f, e, res, err))) break;
        if ((r = body__list_commit(&l, f, err))) break;
      }
    } else {
      l.off[0] = 0;
      r = body__pack_json_item(&l.pk, f, v, res, err);
      if (r == 0) r = body__list_commit(&l, f, err);
    }
    if (r == 0) r = body__list_emit(pk, f, &l, packed);
    msgpack_sbuffer_destroy(&l.sb);
    return r;
  }
  if (json_is_array(v) || json_is_object(v))
    return body__fail(err, f->name, STOA_ESCHEMA, "expected %s, not a list",
                      body__type_name(f->type));
  if (json_is_string(v) && body__blank(json_string_value(v), json_string_length(v)))
    return 0;
  if ((r = body__pack_str(pk, f->name, strlen(f->name)))) return r;
  if (json_is_string(v))
    r = body__pack_text(pk, f, json_string_value(v), json_string_length(v), false, res, err);
  else
    r = body__pack_json_item(pk, f, v, res, err);
  if (r == 0) *packed = true;
  return r;
}

static bool body__is_meta(const char *k, size_t klen) {
  for (size_t i = 0; body__meta[i]; i++)
    if (strlen(body__meta[i]) == klen && memcmp(body__meta[i], k, klen) == 0) return true;
  return false;
}

int body_from_json(int kind, const json_t *obj, const body_resolver *res,
                   msgpack_sbuffer *out, body_error *err) {
  size_t nf, klen;
  const schema_field *fs = schema_fields(kind, &nf);
  msgpack_sbuffer pairs;
  msgpack_packer pk;
  uint32_t count = 0;
  const char *k;
  const json_t *v;
  bool packed;
  int r = 0;

  if (!out) return body__fail(err, "", STOA_EINVAL, "bad arguments");
  if (!fs || nf == 0) return body__fail(err, "", STOA_EKIND, "unknown record kind");
  if (!json_is_object(obj)) return body__fail(err, "", STOA_EINVAL, "not a JSON object");
  msgpack_sbuffer_init(&pairs);
  msgpack_packer_init(&pk, &pairs, msgpack_sbuffer_write);
  for (size_t j = 0; j < nf; j++) {
    v = json_object_get(obj, fs[j].name);
    if (!v || json_is_null(v)) continue;
    if ((r = body__pack_json_field(&pk, &fs[j], v, res, &packed, err))) goto out;
    count += packed;
  }
  json_object_keylen_foreach((json_t *)obj, k, klen, v) {
    if (schema_field_find(kind, k, klen) || body__is_meta(k, klen)) continue;
    char name[sizeof err->field];
    snprintf(name, sizeof name, "%.*s", (int)(klen < sizeof name ? klen : sizeof name - 1), k);
    if (!mp_utf8_valid((const uint8_t *)k, klen)) {
      r = body__fail(err, name, STOA_EUTF8, "field name not valid UTF-8");
      goto out;
    }
    if ((r = body__pack_str(&pk, k, klen))) goto out;
    if ((r = body__pack_json_any(&pk, v, 1, name, err))) goto out;
    count++;
  }
  r = body__finish(out, count, &pairs, err);
out:
  msgpack_sbuffer_destroy(&pairs);
  return r;
}

/* ---- reading bodies -------------------------------------------------------- */

/* A body must be one valid map with string keys; *n gets its size. */
int body__open(const uint8_t *body, size_t len, mp_reader *r, uint32_t *n) {
  int e;
  mp_reader it;
  const char *k;
  uint32_t klen;
  if (!body && len) return STOA_EINVAL;
  if ((e = mp_check(body, len))) return e;
  mp_reader_init(r, body, len);
  if ((e = mp_read_map(r, n))) return e;
  it = *r;
  for (uint32_t i = 0; i < *n; i++)
    if ((e = mp_read_str(&it, &k, &klen)) || (e = mp_skip(&it, 1))) return e;
  return 0;
}

/* The first entry whose key is [name, name+nlen) of a map of n entries
 * opened by body__open at m. */
bool body__find_at(mp_reader m, uint32_t n, const char *name, size_t nlen,
                   const uint8_t **kraw, size_t *kn, const uint8_t **vraw, size_t *vn) {
  mp_reader r = m;
  for (uint32_t i = 0; i < n; i++) {
    mp_reader at = r;
    const char *k;
    uint32_t klen;
    if (mp_read_str(&r, &k, &klen)) return false;
    if (mp_read_raw(&r, vraw, vn, 1)) return false;
    if (klen == nlen && memcmp(k, name, nlen) == 0) {
      *kraw = at.p;
      *kn = (size_t)(r.p - at.p) - *vn;
      return true;
    }
  }
  return false;
}

/* Whether a known field is among the names to unset. */
static bool body__unset(const char *const *names, size_t n, const char *field) {
  for (size_t i = 0; i < n; i++)
    if (body__name_eq(names[i], field)) return true;
  return false;
}

/* Whether an unknown key is among them: its exact bytes. */
static bool body__named(const char *const *names, size_t n, const char *k, size_t klen) {
  for (size_t i = 0; i < n; i++)
    if (strlen(names[i]) == klen && memcmp(names[i], k, klen) == 0) return true;
  return false;
}

int body_edit(int kind, const uint8_t *old, size_t oldlen, const body_kv *set,
              size_t nset, const char *const *unset, size_t nunset,
              const body_resolver *res, msgpack_sbuffer *out, body_error *err) {
  size_t nf;
  const schema_field *fs = schema_fields(kind, &nf);
  msgpack_sbuffer pairs;
  msgpack_packer pk;
  mp_reader rd;
  uint32_t count = 0, nold;
  const uint8_t *kraw, *vraw;
  size_t kn, vn;
  bool packed;
  int r;

  if (!out || (nset && !set) || (nunset && !unset))
    return body__fail(err, "", STOA_EINVAL, "bad arguments");
  if (!fs || nf == 0) return body__fail(err, "", STOA_EKIND, "unknown record kind");
  if ((r = body__open(old, oldlen, &rd, &nold)))
    return body__fail(err, "", r, "old body: %s", stoa_strerror(r));
  if ((r = body__check_names(kind, set, nset, err))) return r;
  for (size_t i = 0; i < nunset; i++) {
    size_t ul = unset[i] ? strlen(unset[i]) : 0;
    const schema_field *uf;
    if (!unset[i]) return body__fail(err, "", STOA_EINVAL, "field without a name");
    uf = body__field_of(kind, unset[i]);
    if (!uf && !body__find_at(rd, nold, unset[i], ul, &kraw, &kn, &vraw, &vn))
      return body__fail(err, unset[i], STOA_ESCHEMA, "unknown field");
    for (size_t j = 0; j < nset && uf; j++)
      if (body__name_eq(set[j].field, uf->name))
        return body__fail(err, uf->name, STOA_ESCHEMA, "both set and unset");
  }

  msgpack_sbuffer_init(&pairs);
  msgpack_packer_init(&pk, &pairs, msgpack_sbuffer_write);
  for (size_t j = 0; j < nf; j++) {
    const char *name = fs[j].name;
    bool isset = false;
    for (size_t i = 0; i < nset && !isset; i++) isset = body__name_eq(set[i].field, name);
    if (isset) {
      if ((r = body__pack_kv_field(&pk, &fs[j], set, nset, res, &packed, err))) goto out;
      count += packed;
    } else if (!body__unset(unset, nunset, name) &&
               body__find_at(rd, nold, name, strlen(name), &kraw, &kn, &vraw, &vn)) {
      if ((r = body__write(&pairs, kraw, kn)) || (r = body__write(&pairs, vraw, vn))) goto out;
      count++;
    }
  }
  /* Unknown fields, in their old order and bytes. */
  for (uint32_t i = 0; i < nold; i++) {
    const char *k;
    uint32_t klen;
    const uint8_t *at = rd.p;
    if ((r = mp_read_str(&rd, &k, &klen)) || (r = mp_read_raw(&rd, &vraw, &vn, 1))) goto out;
    if (schema_field_find(kind, k, klen) || body__named(unset, nunset, k, klen)) continue;
    if ((r = body__write(&pairs, at, (size_t)(rd.p - at)))) goto out;
    count++;
  }
  r = body__finish(out, count, &pairs, err);
out:
  msgpack_sbuffer_destroy(&pairs);
  return r;
}

/* ---- JSON out ------------------------------------------------------------- */

static json_t *body__json_hex(const uint8_t *b, size_t n) {
  char *s = malloc(2 * n + 1);
  if (!s) return NULL;
  body__hex(s, b, n);
  json_t *j = json_stringn(s, 2 * n);
  free(s);
  return j;
}

/* A float as a double; mp.h reads no floats, so the bytes are taken here
 * from the raw value mp_read_raw validated. */
static double body__float(const uint8_t *raw) {
  if (raw[0] == 0xca) {
    uint32_t u = (uint32_t)raw[1] << 24 | (uint32_t)raw[2] << 16 | (uint32_t)raw[3] << 8 | raw[4];
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
  }
  uint64_t u = 0;
  for (int i = 1; i <= 8; i++) u = u << 8 | raw[i];
  double d;
  memcpy(&d, &u, sizeof d);
  return d;
}

/* Text of a scalar map key that is not a string; NULL for a container. */
static json_t *body__json_any(mp_reader *r, int depth);

static bool body__key_text(mp_reader *r, char *buf, size_t cap, const char **k, size_t *klen) {
  json_t *j;
  int t = mp_peek(r);
  if (t == MP_STR) {
    uint32_t n;
    if (mp_read_str(r, k, &n)) return false;
    *klen = n;
    return true;
  }
  if (t < 0) return false;
  /* Keys JSON cannot have (unknown fields are kept as received): a long
   * bin key in hex, cut short; any other key as its JSON text, cut short.
   * A key that fails would drop the whole body from `show` and exports. */
  if (t == MP_BIN) {
    const uint8_t *b;
    uint32_t n;
    if (mp_read_bin(r, &b, &n)) return false;
    if (n > (cap - 1) / 2) {
      body__hex(buf, b, (cap - 4) / 2);
      memcpy(buf + (cap - 4) / 2 * 2, "...", 4);
    } else {
      body__hex(buf, b, n);
    }
  } else {
    if (!(j = body__json_any(r, 1))) return false;
    char *s = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(j);
    if (!s) return false;
    snprintf(buf, cap, "%s", s);
    free(s);
  }
  *k = buf;
  *klen = strlen(buf);
  return true;
}

/* Any value, generically; the input was checked by mp_check. */
static json_t *body__json_any(mp_reader *r, int depth) {
  const uint8_t *raw, *b;
  const char *s;
  size_t rn;
  uint32_t n;
  uint64_t u;
  int64_t i;
  bool bv;
  json_t *j = NULL;

  switch (mp_peek(r)) {
  case MP_NIL: return mp_read_nil(r) ? NULL : json_null();
  case MP_BOOL: return mp_read_bool(r, &bv) ? NULL : json_boolean(bv);
  case MP_UINT:
    if (mp_read_uint(r, &u)) return NULL;
    if (u <= INT64_MAX) return json_integer((json_int_t)u);
    {
      char d[24];
      snprintf(d, sizeof d, "%" PRIu64, u);
      return json_string(d);
    }
  case MP_INT: return mp_read_int(r, &i) ? NULL : json_integer((json_int_t)i);
  case MP_FLOAT: {
    if (mp_read_raw(r, &raw, &rn, depth)) return NULL;
    double d = body__float(raw);
    return d == d && d - d == 0 ? json_real(d) : json_null(); /* JSON has no NaN, inf */
  }
  case MP_STR: return mp_read_str(r, &s, &n) ? NULL : json_stringn(s, n);
  case MP_BIN: return mp_read_bin(r, &b, &n) ? NULL : body__json_hex(b, n);
  case MP_ARRAY:
    if (mp_read_array(r, &n) || !(j = json_array())) return NULL;
    for (uint32_t k = 0; k < n; k++) {
      json_t *e = body__json_any(r, depth + 1);
      if (!e || json_array_append_new(j, e)) goto fail;
    }
    return j;
  case MP_MAP:
    if (mp_read_map(r, &n) || !(j = json_object())) return NULL;
    for (uint32_t k = 0; k < n; k++) {
      char kb[96];
      const char *key;
      size_t klen;
      if (!body__key_text(r, kb, sizeof kb, &key, &klen)) goto fail;
      json_t *e = body__json_any(r, depth + 1);
      if (!e || json_object_setn_new(j, key, klen, e)) goto fail;
    }
    return j;
  default: return NULL;
  }
fail:
  json_decref(j);
  return NULL;
}

int body__item(const schema_field *f, mp_reader *r, const body_formatter *fmt, body_item *out) {
  const uint8_t *b;
  uint64_t u;
  out->kind = BI_TEXT;
  switch (f->type) {
  case SF_INT: out->kind = BI_INT; return mp_read_int(r, &out->i) ? 1 : 0;
  case SF_BOOL: out->kind = BI_BOOL; return mp_read_bool(r, &out->b) ? 1 : 0;
  case SF_REF:
    if (mp_read_binn(r, &b, EKEY_LEN)) return 1;
    body__fmt_ref(fmt, b, out->text, sizeof out->text);
    return 0;
  case SF_KEY:
    if (mp_read_binn(r, &b, KEY_LEN)) return 1;
    body__hex(out->text, b, KEY_LEN);
    return 0;
  case SF_TS:
    if (mp_read_uint(r, &u)) return 1;
    body__fmt_ts(u, out->text, sizeof out->text);
    return 0;
  default: out->kind = BI_STR; return mp_read_str(r, &out->s, &out->n) ? 1 : 0;
  }
}

/* One value of field f in its typed form, or NULL when the bytes are not of
 * the field's type (the caller then falls back to the generic form). */
static json_t *body__json_item(const schema_field *f, mp_reader *r,
                               const body_formatter *fmt) {
  body_item it;
  if (body__item(f, r, fmt, &it)) return NULL;
  switch (it.kind) {
  case BI_INT: return json_integer((json_int_t)it.i);
  case BI_BOOL: return json_boolean(it.b);
  case BI_STR: return json_stringn(it.s, it.n);
  default: return json_string(it.text);
  }
}

static json_t *body__json_field(const schema_field *f, mp_reader *r,
                                const body_formatter *fmt) {
  uint32_t n;
  json_t *a;
  if (!(f->flags & SFF_LIST)) return body__json_item(f, r, fmt);
  if (mp_read_array(r, &n) || !(a = json_array())) return NULL;
  for (uint32_t k = 0; k < n; k++) {
    json_t *e = body__json_item(f, r, fmt);
    if (!e || json_array_append_new(a, e)) {
      json_decref(a);
      return NULL;
    }
  }
  return a;
}

json_t *body_to_json(int kind, const uint8_t *body, size_t len,
                     const body_formatter *fmt) {
  mp_reader r;
  uint32_t n;
  json_t *obj;
  if (body__open(body, len, &r, &n) || !(obj = json_object())) return NULL;
  for (uint32_t i = 0; i < n; i++) {
    const char *k;
    uint32_t klen;
    const schema_field *f;
    json_t *v = NULL;
    if (mp_read_str(&r, &k, &klen)) goto fail;
    if ((f = schema_field_find(kind, k, klen))) {
      mp_reader save = r;
      if (!(v = body__json_field(f, &r, fmt))) r = save;
    }
    if (!v && !(v = body__json_any(&r, 1))) goto fail;
    if (json_object_setn_new(obj, k, klen, v)) goto fail;
  }
  return obj;
fail:
  json_decref(obj);
  return NULL;
}
