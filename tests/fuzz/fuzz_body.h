/*
 * fuzz_body.h - what the JSON and CSV targets share: a resolver that needs
 * no store, and the checks on a body the importer built.
 *
 * The resolver stands in for the store's prefix look-up (cli/home.c): a
 * prefix starting with 'f' is not found, one starting with 'e' is
 * ambiguous, any other resolves to a fixed owner and an id made of its
 * digits, so every branch of the importer is reachable.
 */
#ifndef STOA_FUZZ_BODY_H
#define STOA_FUZZ_BODY_H

#include <string.h>

#include "cli/body.h"
#include "proto/err.h"
#include "proto/mp.h"
#include "proto/schema.h"
#include "tests/fuzz/fuzz.h"

static inline int fuzz_resolve(void *ctx, const char *text, uint8_t out[EKEY_LEN]) {
  size_t n = strlen(text);
  (void)ctx;
  /* What body.c hands over: a lower-case hex prefix, shorter than a key. */
  FUZZ_CHECK(n >= 1 && n < 2 * EKEY_LEN);
  FUZZ_CHECK(strspn(text, "0123456789abcdef") == n);
  if (text[0] == 'f') return STOA_ENOTFOUND;
  if (text[0] == 'e') return STOA_EAMBIGUOUS;
  memset(out, 0x5a, KEY_LEN);
  memset(out + KEY_LEN, 0, ID_LEN);
  for (size_t i = 0; i < n && i / 2 < ID_LEN; i++)
    out[KEY_LEN + i / 2] |= (uint8_t)((strchr("0123456789abcdef", text[i]) - "0123456789abcdef")
                                      << (i % 2 ? 0 : 4));
  return 0;
}

/* References as all 96 hex digits, which the importer takes back without
 * a look-up: so that export and import can be compared. */
static inline void fuzz_fmt_ref(void *ctx, const uint8_t ekey[EKEY_LEN], char *out, size_t cap) {
  (void)ctx;
  FUZZ_CHECK(cap >= 2 * EKEY_LEN + 1);
  sodium_bin2hex(out, cap, ekey, EKEY_LEN);
}

static inline void fuzz_why_ok(const body_error *why) {
  FUZZ_CHECK(memchr(why->field, '\0', sizeof why->field) != NULL);
  FUZZ_CHECK(memchr(why->msg, '\0', sizeof why->msg) != NULL);
}

/*
 * A body built by an importer: a valid msgpack map; when the schema takes
 * it, it must export to JSON and to a CSV row, and its JSON export must
 * import back to the same bytes (export then import is what a user does to
 * move entries between nodes by hand).
 */
static inline void fuzz_body_built(int kind, const uint8_t *body, size_t len) {
  static FILE *devnull;
  body_formatter fmt = { fuzz_fmt_ref, NULL, 0 };
  body_error why = { "", "" };
  msgpack_sbuffer sb;
  json_t *j;
  char *text;
  int e;

  FUZZ_CHECK(mp_check(body, len) == 0);
  e = schema_check(kind, body, len, &why);
  fuzz_why_ok(&why);
  if (e) return;
  fuzz_note("body built and schema-valid");
  j = body_to_json(kind, body, len, &fmt);

  FUZZ_CHECK(j != NULL && json_is_object(j));
  text = json_dumps(j, JSON_COMPACT);
  FUZZ_CHECK(text != NULL);
  free(text);
  msgpack_sbuffer_init(&sb);
  e = body_from_json(kind, j, NULL, &sb, &why);
  if (e) fprintf(stderr, "re-import: %s: %s\n", why.field, why.msg);
  FUZZ_CHECK(e == 0);
  FUZZ_CHECK(sb.size == len && memcmp(sb.data, body, len) == 0);
  msgpack_sbuffer_destroy(&sb);
  json_decref(j);
  if (!devnull && !(devnull = fopen("/dev/null", "w"))) abort();
  FUZZ_CHECK(body_csv_write_row(devnull, kind, "0123", body, len, &fmt) == 0);
}

#endif
