/*
 * test_body.c - options, JSON and CSV to and from record bodies (cli/body.h),
 * against the real field tables of proto/schema.c: every body built here
 * must also pass schema_check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/body.h"
#include "proto/err.h"
#include "proto/mp.h"

/* ---- helpers ----------------------------------------------------------- */

/* Three entries whose ids start 0a11.., 0a12.. and 7f..; the resolver finds
 * them by a hex prefix of the id, as the store will. */
static uint8_t entries[3][EKEY_LEN];

static void entries_init(void) {
  for (int e = 0; e < 3; e++)
    for (int i = 0; i < EKEY_LEN; i++) entries[e][i] = (uint8_t)(e * 50 + i);
  entries[0][32] = 0x0a, entries[0][33] = 0x11;
  entries[1][32] = 0x0a, entries[1][33] = 0x12;
  entries[2][32] = 0x7f;
}

static void hex(char *out, const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", b[i]);
}

static int calls;

static int resolve(void *ctx, const char *text, uint8_t out[EKEY_LEN]) {
  int found = -1, n = 0;
  assert_ptr_equal(ctx, &calls);
  calls++;
  for (int e = 0; e < 3; e++) {
    char h[2 * ID_LEN + 1];
    hex(h, entries[e] + KEY_LEN, ID_LEN);
    if (strncmp(h, text, strlen(text)) == 0) found = e, n++;
  }
  if (n == 0) return STOA_ENOTFOUND;
  if (n > 1) return STOA_EAMBIGUOUS;
  memcpy(out, entries[found], EKEY_LEN);
  return 0;
}

static const body_resolver res = {resolve, &calls};

static json_t *json_of(int kind, const msgpack_sbuffer *sb) {
  json_t *j = body_to_json(kind, (const uint8_t *)sb->data, sb->size, NULL);
  assert_non_null(j);
  return j;
}

static void assert_json_str(const json_t *o, const char *key, const char *want) {
  const json_t *v = json_object_get(o, key);
  if (!json_is_string(v)) fail_msg("%s is not a string", key);
  assert_string_equal(json_string_value(v), want);
}

/* The keys of a body, in order, joined with ','. */
static void keys_of(const msgpack_sbuffer *sb, char *out, size_t cap) {
  mp_reader r;
  uint32_t n;
  size_t o = 0;
  mp_reader_init(&r, sb->data, sb->size);
  assert_int_equal(mp_read_map(&r, &n), 0);
  out[0] = '\0';
  for (uint32_t i = 0; i < n; i++) {
    const char *k;
    uint32_t kl;
    assert_int_equal(mp_read_str(&r, &k, &kl), 0);
    o += (size_t)snprintf(out + o, cap - o, "%s%.*s", i ? "," : "", (int)kl, k);
    assert_int_equal(mp_skip(&r, 1), 0);
  }
}

static void assert_schema_ok(int kind, const msgpack_sbuffer *sb) {
  schema_error why = {{0}, {0}};
  int r = schema_check(kind, (const uint8_t *)sb->data, sb->size, &why);
  if (r) fail_msg("schema_check: %s: %s", why.field, why.msg);
}

/* Builds from kv and expects failure naming `field`, the message holding
 * `needle`. */
static void expect_kv_error(int kind, const body_kv *kv, size_t n, int code,
                            const char *field, const char *needle) {
  msgpack_sbuffer sb;
  body_error err;
  msgpack_sbuffer_init(&sb);
  memset(&err, 0, sizeof err);
  int r = body_from_kv(kind, kv, n, &res, &sb, &err);
  if (r != code)
    fail_msg("%s: got %s (%s: %s), want %s", field, stoa_errname(r), err.field, err.msg,
             stoa_errname(code));
  assert_string_equal(err.field, field);
  if (needle && !strstr(err.msg, needle)) fail_msg("\"%s\" not in \"%s\"", needle, err.msg);
  assert_int_equal(sb.size, 0); /* nothing appended on failure */
  msgpack_sbuffer_destroy(&sb);
}

/* ---- body_from_kv --------------------------------------------------------- */

static void test_kv_org_all_types(void **state) {
  (void)state;
  body_kv kv[] = {
    {"description", "Migrant workers' rights; \"fair\" recruitment\nsecond line"},
    {"themes", "Gender;climate"},
    {"name", "Société d'entraide"},
    {"country", "fr"},
    {"type", "NGO"},
    {"themes", "recruitment"},
    {"languages", "fr; pt-BR"},
    {"website", "https://example.org/a?b=c"},
    {"email", "contact@example.org"},
    {"phone", "+33 1 23 45 67 89"},
    {"city", ""},
    {"founded", "1999"},
    {"member-of", "0a11"},
    {"member_of", "7f"},
  };
  msgpack_sbuffer sb;
  body_error err;
  char keys[256];
  msgpack_sbuffer_init(&sb);
  calls = 0;
  assert_int_equal(body_from_kv(REC_ORG, kv, sizeof kv / sizeof kv[0], &res, &sb, &err), 0);
  assert_int_equal(calls, 2);
  assert_schema_ok(REC_ORG, &sb);
  keys_of(&sb, keys, sizeof keys);
  /* schema order, and the blank city left out */
  assert_string_equal(keys, "name,country,type,themes,languages,website,email,phone,"
                            "description,founded,member_of");

  json_t *j = json_of(REC_ORG, &sb);
  assert_json_str(j, "name", "Société d'entraide");
  assert_json_str(j, "country", "FR");
  assert_json_str(j, "type", "ngo");
  assert_json_str(j, "description", "Migrant workers' rights; \"fair\" recruitment\nsecond line");
  assert_int_equal(json_integer_value(json_object_get(j, "founded")), 1999);
  json_t *th = json_object_get(j, "themes");
  assert_int_equal(json_array_size(th), 3);
  assert_string_equal(json_string_value(json_array_get(th, 0)), "gender");
  assert_string_equal(json_string_value(json_array_get(th, 1)), "climate");
  assert_string_equal(json_string_value(json_array_get(th, 2)), "recruitment");
  json_t *lang = json_object_get(j, "languages");
  assert_string_equal(json_string_value(json_array_get(lang, 1)), "pt-BR");
  json_t *m = json_object_get(j, "member_of");
  char want[2 * ID_LEN + 1];
  hex(want, entries[0] + KEY_LEN, ID_LEN);
  assert_string_equal(json_string_value(json_array_get(m, 0)), want);
  hex(want, entries[2] + KEY_LEN, ID_LEN);
  assert_string_equal(json_string_value(json_array_get(m, 1)), want);
  json_decref(j);

  /* the references are the full entry keys */
  mp_reader r;
  const uint8_t *kr, *b;
  size_t kn;
  mp_reader_init(&r, sb.data, sb.size);
  uint32_t n, an;
  assert_int_equal(mp_read_map(&r, &n), 0);
  for (uint32_t i = 0; i + 1 < n; i++) {
    assert_int_equal(mp_read_raw(&r, &kr, &kn, 1), 0);
    assert_int_equal(mp_skip(&r, 1), 0);
  }
  const char *k;
  uint32_t kl;
  assert_int_equal(mp_read_str(&r, &k, &kl), 0);
  assert_int_equal(mp_read_array(&r, &an), 0);
  assert_int_equal(an, 2);
  assert_int_equal(mp_read_binn(&r, &b, EKEY_LEN), 0);
  assert_memory_equal(b, entries[0], EKEY_LEN);
  msgpack_sbuffer_destroy(&sb);
}

static void test_kv_other_kinds(void **state) {
  (void)state;
  msgpack_sbuffer sb;
  body_error err;
  char key[2 * KEY_LEN + 1], full[2 * EKEY_LEN + 1];
  uint8_t kb[KEY_LEN];
  for (int i = 0; i < KEY_LEN; i++) kb[i] = (uint8_t)(0xa0 + i);
  hex(key, kb, KEY_LEN);
  key[0] = 'A'; /* upper-case hex is fine */
  hex(full, entries[1], EKEY_LEN);

  /* endorse: key, enum */
  body_kv tr[] = {{"subject", key}, {"role", " Editor "}, {"note", "new staff"}};
  msgpack_sbuffer_init(&sb);
  assert_int_equal(body_from_kv(REC_ENDORSE, tr, 3, NULL, &sb, &err), 0);
  assert_schema_ok(REC_ENDORSE, &sb);
  json_t *j = json_of(REC_ENDORSE, &sb);
  key[0] = 'a';
  assert_json_str(j, "subject", key);
  assert_json_str(j, "role", "editor");
  json_decref(j);
  msgpack_sbuffer_destroy(&sb);

  /* erase: ref given in full without a resolver, timestamps in each form */
  static const struct { const char *in; uint64_t ms; const char *out; } ts[] = {
    {"2024-03-01", 1709251200000ull, "2024-03-01T00:00:00Z"},
    {"2024-02-29T12:30:05Z", 1709209805000ull, "2024-02-29T12:30:05Z"},
    {"2024-02-29t12:30:05.250z", 1709209805250ull, "2024-02-29T12:30:05.250Z"},
    {"1709209805250", 1709209805250ull, "2024-02-29T12:30:05.250Z"},
    {"0", 0, "1970-01-01T00:00:00Z"},
  };
  for (size_t t = 0; t < sizeof ts / sizeof ts[0]; t++) {
    body_kv er[] = {{"target", full}, {"until", ts[t].in}, {"reason", "asked by the person"}};
    msgpack_sbuffer_init(&sb);
    assert_int_equal(body_from_kv(REC_ERASE, er, 3, NULL, &sb, &err), 0);
    assert_schema_ok(REC_ERASE, &sb);
    mp_reader r;
    uint32_t n, kl;
    const char *k;
    const uint8_t *b;
    uint64_t ms;
    mp_reader_init(&r, sb.data, sb.size);
    assert_int_equal(mp_read_map(&r, &n), 0);
    assert_int_equal(mp_read_str(&r, &k, &kl), 0);
    assert_int_equal(mp_read_binn(&r, &b, EKEY_LEN), 0);
    assert_memory_equal(b, entries[1], EKEY_LEN);
    assert_int_equal(mp_read_str(&r, &k, &kl), 0);
    assert_int_equal(mp_read_uint(&r, &ms), 0);
    assert_int_equal(ms, ts[t].ms);
    j = json_of(REC_ERASE, &sb);
    assert_json_str(j, "until", ts[t].out);
    json_decref(j);
    msgpack_sbuffer_destroy(&sb);
  }

  /* peer: key, address list, bool */
  body_kv pe[] = {{"node", key}, {"addrs", "hub.example.org:7000;[2001:db8::1]:7001"},
                  {"hub", "YES"}};
  msgpack_sbuffer_init(&sb);
  assert_int_equal(body_from_kv(REC_PEER, pe, 3, NULL, &sb, &err), 0);
  assert_schema_ok(REC_PEER, &sb);
  j = json_of(REC_PEER, &sb);
  assert_int_equal(json_array_size(json_object_get(j, "addrs")), 2);
  assert_true(json_is_true(json_object_get(j, "hub")));
  json_decref(j);
  msgpack_sbuffer_destroy(&sb);

  /* actor and practice: bool 0/1, period, enum, country lists */
  const char *bools[][2] = {{"1", "t"}, {"true", "t"}, {"No", "f"}, {"0", "f"}, {"FALSE", "f"}};
  for (size_t i = 0; i < 5; i++) {
    body_kv ac[] = {{"name", "A. Person"}, {"consent", bools[i][0]}, {"org", "0a12"}};
    msgpack_sbuffer_init(&sb);
    assert_int_equal(body_from_kv(REC_ACTOR, ac, 3, &res, &sb, &err), 0);
    assert_schema_ok(REC_ACTOR, &sb);
    j = json_of(REC_ACTOR, &sb);
    assert_int_equal(json_is_true(json_object_get(j, "consent")), bools[i][1][0] == 't');
    json_decref(j);
    msgpack_sbuffer_destroy(&sb);
  }
  body_kv pr[] = {{"title", "Pre-departure training"}, {"summary", "What we did."},
                  {"themes", "recruitment"}, {"countries", "ph;de"}, {"countries", "PH"},
                  {"period", "2019-2022"}, {"status", "Completed"},
                  {"evidence", "https://example.org/report.pdf"}};
  msgpack_sbuffer_init(&sb);
  assert_int_equal(body_from_kv(REC_PRACTICE, pr, 8, &res, &sb, &err), 0);
  assert_schema_ok(REC_PRACTICE, &sb);
  j = json_of(REC_PRACTICE, &sb);
  json_t *c = json_object_get(j, "countries");
  assert_int_equal(json_array_size(c), 2); /* "PH" repeated: dropped */
  assert_string_equal(json_string_value(json_array_get(c, 1)), "DE");
  assert_json_str(j, "status", "completed");
  json_decref(j);
  msgpack_sbuffer_destroy(&sb);
}

static void test_kv_bad_values(void **state) {
  (void)state;
  char full[2 * EKEY_LEN + 1];
  hex(full, entries[1], EKEY_LEN);
  struct { int kind; const char *f, *v, *field, *needle; int code; } bad[] = {
    {REC_ORG, "country", "zz", "country", "\"zz\"", STOA_ESCHEMA},
    {REC_ORG, "country", "France", "country", "France", STOA_ESCHEMA},
    {REC_ORG, "founded", "19x9", "founded", "19x9", STOA_ESCHEMA},
    {REC_ORG, "founded", "+1999", "founded", "+1999", STOA_ESCHEMA},
    {REC_ORG, "founded", " 1 999", "founded", NULL, STOA_ESCHEMA},
    {REC_ORG, "founded", "1700", "founded", "1700", STOA_ESCHEMA},
    {REC_ORG, "founded", "99999999999999999999999", "founded", NULL, STOA_ESCHEMA},
    {REC_ORG, "themes", "gender;cooking", "themes", "cooking", STOA_ESCHEMA},
    {REC_ORG, "type", "club", "type", "ngo, diaspora", STOA_ESCHEMA},
    {REC_ORG, "languages", "f_r", "languages", "f_r", STOA_ESCHEMA},
    {REC_ORG, "website", "ftp://example.org", "website", "ftp://", STOA_ESCHEMA},
    {REC_ORG, "email", "nobody", "email", "nobody", STOA_ESCHEMA},
    {REC_ORG, "phone", "call me", "phone", "call me", STOA_ESCHEMA},
    {REC_ORG, "name", "bad\x01name", "name", "bad?name", STOA_ESCHEMA},
    {REC_ORG, "name", "two\nlines", "name", "U+000A", STOA_ESCHEMA},
    {REC_ORG, "city", "c1\xc2\x9b", "city", "U+009B", STOA_ESCHEMA},
    {REC_ORG, "city", "\xff\xfe", "city", "UTF-8", STOA_ESCHEMA},
    {REC_ORG, "member_of", "zz", "member_of", "not an entry id", STOA_ESCHEMA},
    {REC_ORG, "member_of", "0a", "member_of", "more than one", STOA_EAMBIGUOUS},
    {REC_ORG, "member_of", "0a13", "member_of", "no entry matches", STOA_ENOTFOUND},
    {REC_ORG, "colour", "blue", "colour", "unknown field", STOA_ESCHEMA},
    {REC_ACTOR, "consent", "maybe", "consent", "maybe", STOA_ESCHEMA},
    {REC_PRACTICE, "period", "2022-2019", "period", "2022-2019", STOA_ESCHEMA},
    {REC_ENDORSE, "subject", "abcd", "subject", "64 hex", STOA_ESCHEMA},
    {REC_ERASE, "until", "2023-02-29", "until", "2023-02-29", STOA_ESCHEMA},
    {REC_ERASE, "until", "2023-13-01", "until", NULL, STOA_ESCHEMA},
    {REC_ERASE, "until", "2023-01-01T24:00:00Z", "until", NULL, STOA_ESCHEMA},
    {REC_ERASE, "until", "2023-01-01T10:00:00", "until", NULL, STOA_ESCHEMA},
    {REC_ERASE, "until", "-5", "until", NULL, STOA_ESCHEMA},
    {REC_ERASE, "until", "1969-12-31", "until", NULL, STOA_ESCHEMA},
    {REC_PEER, "addrs", "nohost", "addrs", "host:port", STOA_ESCHEMA},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    body_kv kv[] = {{bad[i].f, bad[i].v}};
    expect_kv_error(bad[i].kind, kv, 1, bad[i].code, bad[i].field, bad[i].needle);
  }
  /* a scalar given twice; too many items; a reference without a resolver */
  body_kv twice[] = {{"name", "A"}, {"name", "B"}};
  expect_kv_error(REC_ORG, twice, 2, STOA_ESCHEMA, "name", "more than once");
  body_kv addrs[9];
  char ab[9][16];
  for (int i = 0; i < 9; i++) {
    snprintf(ab[i], sizeof ab[i], "h%d.org:%d", i, 7000 + i);
    addrs[i].field = "addrs";
    addrs[i].value = ab[i];
  }
  expect_kv_error(REC_PEER, addrs, 9, STOA_ESCHEMA, "addrs", "more than 8");
  msgpack_sbuffer sb;
  body_error err;
  body_kv ref[] = {{"target", "0a11"}};
  msgpack_sbuffer_init(&sb);
  assert_int_equal(body_from_kv(REC_ERASE, ref, 1, NULL, &sb, &err), STOA_ESCHEMA);
  assert_string_equal(err.field, "target");
  body_kv fullref[] = {{"target", full}};
  assert_int_equal(body_from_kv(REC_ERASE, fullref, 1, NULL, &sb, &err), 0);
  assert_int_equal(body_from_kv(99, fullref, 1, NULL, &sb, &err), STOA_EKIND);
  msgpack_sbuffer_destroy(&sb);
}

static void test_kv_empty_and_lists(void **state) {
  (void)state;
  body_kv kv[] = {{"name", "N"}, {"country", "  "}, {"type", "ngo"}, {"themes", ";;"},
                  {"themes", NULL}, {"website", ""}, {"languages", " en ;; en;EN"}};
  msgpack_sbuffer sb;
  body_error err;
  char keys[128];
  msgpack_sbuffer_init(&sb);
  assert_int_equal(body_from_kv(REC_ORG, kv, 7, &res, &sb, &err), 0);
  keys_of(&sb, keys, sizeof keys);
  assert_string_equal(keys, "name,type,languages");
  json_t *j = json_of(REC_ORG, &sb);
  /* "en" twice dropped; "EN" is another string (tags keep their case) */
  assert_int_equal(json_array_size(json_object_get(j, "languages")), 2);
  json_decref(j);
  /* the country is required: schema_check, not the conversion, says so */
  schema_error why;
  assert_int_equal(schema_check(REC_ORG, (uint8_t *)sb.data, sb.size, &why), STOA_ESCHEMA);
  assert_string_equal(why.field, "country");
  msgpack_sbuffer_destroy(&sb);

  /* output appended to what the buffer holds */
  msgpack_sbuffer_init(&sb);
  msgpack_sbuffer_write(&sb, "xy", 2);
  body_kv one[] = {{"name", "N"}};
  assert_int_equal(body_from_kv(REC_ORG, one, 1, NULL, &sb, &err), 0);
  assert_memory_equal(sb.data, "xy\x81\xa4name\xa1N", 10);
  assert_int_equal(sb.size, 10);
  msgpack_sbuffer_destroy(&sb);
}

/* ---- JSON ------------------------------------------------------------------ */

static void test_json_roundtrip(void **state) {
  (void)state;
  char text[1024], full[2 * EKEY_LEN + 1];
  hex(full, entries[2], EKEY_LEN);
  snprintf(text, sizeof text,
           "{\"id\": \"ffff\", \"kind\": \"org\", \"owner\": \"00\", \"signer\": 1,"
           " \"ts\": 5, \"hash\": null, \"version\": 1,"
           " \"name\": \"Réseau\", \"country\": \"de\", \"type\": \"union\","
           " \"themes\": [\"gender\", \"Climate\", \"gender\"], \"languages\": \"de;en\","
           " \"founded\": 1950, \"member_of\": [\"0a11\", \"%s\"], \"city\": null,"
           " \"x_rating\": {\"stars\": 4.5, \"by\": [\"a\", true, null, -3]},"
           " \"x_note\": \"kept\", \"x_nil\": null, \"x_big\": 9007199254740993}",
           full);
  json_error_t je;
  json_t *in = json_loads(text, 0, &je);
  assert_non_null(in);
  msgpack_sbuffer sb;
  body_error err;
  char keys[256];
  msgpack_sbuffer_init(&sb);
  int r = body_from_json(REC_ORG, in, &res, &sb, &err);
  if (r) fail_msg("%s: %s", err.field, err.msg);
  assert_schema_ok(REC_ORG, &sb);
  keys_of(&sb, keys, sizeof keys);
  assert_string_equal(keys, "name,country,type,themes,languages,founded,member_of,"
                            "x_rating,x_note,x_nil,x_big");

  json_t *out = json_of(REC_ORG, &sb);
  char want_id[2][2 * ID_LEN + 1];
  hex(want_id[0], entries[0] + KEY_LEN, ID_LEN);
  hex(want_id[1], entries[2] + KEY_LEN, ID_LEN);
  snprintf(text, sizeof text,
           "{\"name\": \"Réseau\", \"country\": \"DE\", \"type\": \"union\","
           " \"themes\": [\"gender\", \"climate\"], \"languages\": [\"de\", \"en\"],"
           " \"founded\": 1950, \"member_of\": [\"%s\", \"%s\"],"
           " \"x_rating\": {\"stars\": 4.5, \"by\": [\"a\", true, null, -3]},"
           " \"x_note\": \"kept\", \"x_nil\": null, \"x_big\": 9007199254740993}",
           want_id[0], want_id[1]);
  json_t *want = json_loads(text, 0, &je);
  assert_non_null(want);
  if (!json_equal(out, want)) {
    char *s = json_dumps(out, JSON_SORT_KEYS);
    fail_msg("got %s", s);
  }
  /* and back again: the same bytes */
  msgpack_sbuffer sb2;
  msgpack_sbuffer_init(&sb2);
  assert_int_equal(body_from_json(REC_ORG, out, &res, &sb2, &err), 0);
  assert_int_equal(sb2.size, sb.size);
  assert_memory_equal(sb2.data, sb.data, sb.size);
  json_decref(in);
  json_decref(out);
  json_decref(want);
  msgpack_sbuffer_destroy(&sb);
  msgpack_sbuffer_destroy(&sb2);
}

static void test_json_types(void **state) {
  (void)state;
  struct { int kind; const char *json, *field; int code; } cases[] = {
    {REC_ORG, "{\"name\": 5}", "name", STOA_ESCHEMA},
    {REC_ORG, "{\"name\": [\"a\"]}", "name", STOA_ESCHEMA},
    {REC_ORG, "{\"founded\": 1950.5}", "founded", STOA_ESCHEMA},
    {REC_ORG, "{\"founded\": 1700}", "founded", STOA_ESCHEMA},
    {REC_ORG, "{\"founded\": true}", "founded", STOA_ESCHEMA},
    {REC_ORG, "{\"themes\": [\"gender\", 3]}", "themes", STOA_ESCHEMA},
    {REC_ORG, "{\"themes\": {\"a\": 1}}", "themes", STOA_ESCHEMA},
    {REC_ACTOR, "{\"consent\": \"maybe\"}", "consent", STOA_ESCHEMA},
    {REC_ACTOR, "{\"consent\": 1}", "consent", STOA_ESCHEMA},
    {REC_ERASE, "{\"until\": -1}", "until", STOA_ESCHEMA},
    {REC_ORG, "[1, 2]", "", STOA_EINVAL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_t *j = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
    msgpack_sbuffer sb;
    body_error err;
    assert_non_null(j);
    msgpack_sbuffer_init(&sb);
    int r = body_from_json(cases[i].kind, j, &res, &sb, &err);
    if (r != cases[i].code) fail_msg("%s: %s", cases[i].json, stoa_errname(r));
    assert_string_equal(err.field, cases[i].field);
    assert_int_equal(sb.size, 0);
    msgpack_sbuffer_destroy(&sb);
    json_decref(j);
  }
  /* typed JSON values where the field takes them */
  json_t *j = json_pack("{s:b, s:s, s:[s, s]}", "consent", 1, "name", "P", "themes",
                        "children", "");
  msgpack_sbuffer sb;
  body_error err;
  msgpack_sbuffer_init(&sb);
  assert_int_equal(body_from_json(REC_ACTOR, j, &res, &sb, &err), 0);
  assert_schema_ok(REC_ACTOR, &sb);
  json_t *o = json_of(REC_ACTOR, &sb);
  assert_true(json_is_true(json_object_get(o, "consent")));
  assert_int_equal(json_array_size(json_object_get(o, "themes")), 1);
  json_decref(o);
  json_decref(j);
  msgpack_sbuffer_destroy(&sb);
  j = json_pack("{s:s, s:I}", "target", "7f", "until", (json_int_t)1700000000123);
  msgpack_sbuffer_init(&sb);
  assert_int_equal(body_from_json(REC_ERASE, j, &res, &sb, &err), 0);
  assert_schema_ok(REC_ERASE, &sb);
  o = json_of(REC_ERASE, &sb);
  assert_json_str(o, "until", "2023-11-14T22:13:20.123Z");
  json_decref(o);
  json_decref(j);
  msgpack_sbuffer_destroy(&sb);
}

/* An unknown field nested `levels` containers deep, the body's map included. */
static json_t *nested(int levels) {
  json_t *v = json_integer(1);
  for (int i = 1; i < levels; i++) {
    json_t *a = json_array();
    json_array_append_new(a, v);
    v = a;
  }
  return json_pack("{s:s, s:o}", "name", "N", "x", v);
}

static void test_json_depth(void **state) {
  (void)state;
  msgpack_sbuffer sb;
  body_error err;
  json_t *j = nested(MP_MAX_DEPTH);
  msgpack_sbuffer_init(&sb);
  assert_int_equal(body_from_json(REC_ORG, j, NULL, &sb, &err), 0);
  assert_int_equal(mp_check(sb.data, sb.size), 0);
  json_t *o = body_to_json(REC_ORG, (uint8_t *)sb.data, sb.size, NULL);
  assert_non_null(o);
  assert_true(json_equal(o, j));
  json_decref(o);
  json_decref(j);
  msgpack_sbuffer_destroy(&sb);

  j = nested(MP_MAX_DEPTH + 1);
  msgpack_sbuffer_init(&sb);
  assert_int_equal(body_from_json(REC_ORG, j, NULL, &sb, &err), STOA_ETOODEEP);
  assert_string_equal(err.field, "x");
  assert_int_equal(sb.size, 0);
  json_decref(j);
  msgpack_sbuffer_destroy(&sb);
}

static void fmt_ref(void *ctx, const uint8_t ekey[EKEY_LEN], char *out, size_t cap) {
  snprintf(out, cap, "%s:%02x", (const char *)ctx, ekey[32]);
}

static void test_to_json(void **state) {
  (void)state;
  msgpack_sbuffer sb;
  msgpack_packer pk;
  uint8_t key[KEY_LEN];
  memset(key, 0xab, sizeof key);
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 7);
  msgpack_pack_str_with_body(&pk, "target", 6);
  msgpack_pack_bin_with_body(&pk, entries[2], EKEY_LEN);
  msgpack_pack_str_with_body(&pk, "until", 5);
  msgpack_pack_uint64(&pk, 1709209805001ull);
  msgpack_pack_str_with_body(&pk, "x_bin", 5);
  msgpack_pack_bin_with_body(&pk, "\x01\xfe", 2);
  msgpack_pack_str_with_body(&pk, "x_key", 5);
  msgpack_pack_bin_with_body(&pk, key, KEY_LEN);
  msgpack_pack_str_with_body(&pk, "x_map", 5);
  msgpack_pack_map(&pk, 2);
  msgpack_pack_int(&pk, 7);
  msgpack_pack_float(&pk, 0.5f);
  msgpack_pack_bin_with_body(&pk, "\x0f", 1);
  msgpack_pack_uint64(&pk, UINT64_MAX);
  msgpack_pack_str_with_body(&pk, "reason", 6);
  msgpack_pack_int(&pk, 42); /* known field of the wrong type: shown as it is */
  msgpack_pack_str_with_body(&pk, "x_neg", 5);
  msgpack_pack_int(&pk, -70000);

  json_t *j = body_to_json(REC_ERASE, (uint8_t *)sb.data, sb.size, NULL);
  assert_non_null(j);
  char want[2 * ID_LEN + 1];
  hex(want, entries[2] + KEY_LEN, ID_LEN);
  assert_int_equal(strlen(want), 32);
  assert_json_str(j, "target", want);
  assert_json_str(j, "until", "2024-02-29T12:30:05.001Z");
  assert_json_str(j, "x_bin", "01fe");
  assert_int_equal(strlen(json_string_value(json_object_get(j, "x_key"))), 64);
  json_t *m = json_object_get(j, "x_map");
  assert_true(json_real_value(json_object_get(m, "7")) == 0.5);
  assert_json_str(m, "0f", "18446744073709551615");
  assert_int_equal(json_integer_value(json_object_get(j, "reason")), 42);
  assert_int_equal(json_integer_value(json_object_get(j, "x_neg")), -70000);
  json_decref(j);

  body_formatter f = {fmt_ref, "org", 0};
  j = body_to_json(REC_ERASE, (uint8_t *)sb.data, sb.size, &f);
  assert_json_str(j, "target", "org:7f");
  json_decref(j);

  /* not a body: NULL */
  assert_null(body_to_json(REC_ERASE, (uint8_t *)sb.data, sb.size - 1, NULL));
  msgpack_sbuffer_write(&sb, "\xc0", 1);
  assert_null(body_to_json(REC_ERASE, (uint8_t *)sb.data, sb.size, NULL));
  assert_null(body_to_json(REC_ERASE, (const uint8_t *)"\x91\x01", 2, NULL));
  assert_null(body_to_json(REC_ERASE, (const uint8_t *)"\x81\x01\x01", 3, NULL));
  assert_null(body_to_json(REC_ERASE, (const uint8_t *)"\x81\xa1x\xd4\x01\x01", 6, NULL));
  assert_null(body_to_json(REC_ERASE, (const uint8_t *)"\x81\xa1x\xa1\xff", 5, NULL));
  assert_null(body_to_json(REC_ERASE, (const uint8_t *)"\xdf\xff\xff\xff\xff", 5, NULL));
  json_t *e = body_to_json(REC_ERASE, (const uint8_t *)"\x80", 1, NULL);
  assert_int_equal(json_object_size(e), 0);
  json_decref(e);
  msgpack_sbuffer_destroy(&sb);
}

/* ---- body_edit --------------------------------------------------------------- */

/* An old body with unknown fields in encodings msgpack-c would not choose:
 * they must come out byte for byte. */
static void old_body(msgpack_sbuffer *sb) {
  static const uint8_t raw[] =
    "\x86"
    "\xa4" "city" "\xa5" "Paris"
    "\xd9\x05" "x_odd" "\xcd\x00\x05"          /* str8 key, uint16 for 5 */
    "\xa4" "name" "\xa3" "Old"
    "\xa6" "themes" "\x92\xa6" "gender" "\xa7" "climate"
    "\xa5" "x_map" "\x81\xa1" "a" "\x91\xc3"
    "\xa7" "country" "\xa2" "FR";
  msgpack_sbuffer_init(sb);
  msgpack_sbuffer_write(sb, (const char *)raw, sizeof raw - 1);
  assert_int_equal(mp_check(sb->data, sb->size), 0);
}

static bool contains(const msgpack_sbuffer *sb, const char *needle, size_t n) {
  return memmem(sb->data, sb->size, needle, n) != NULL;
}

static void test_edit(void **state) {
  (void)state;
  msgpack_sbuffer old, sb;
  body_error err;
  char keys[256];
  old_body(&old);

  body_kv set[] = {{"name", "New name"}, {"themes", "children"}, {"type", "ngo"},
                   {"themes", "integration;children"}};
  const char *unset[] = {"city"};
  msgpack_sbuffer_init(&sb);
  int r = body_edit(REC_ORG, (uint8_t *)old.data, old.size, set, 4, unset, 1, &res, &sb, &err);
  if (r) fail_msg("%s: %s", err.field, err.msg);
  assert_schema_ok(REC_ORG, &sb);
  keys_of(&sb, keys, sizeof keys);
  assert_string_equal(keys, "name,country,type,themes,x_odd,x_map");
  assert_true(contains(&sb, "\xd9\x05x_odd\xcd\x00\x05", 10));
  assert_true(contains(&sb, "\xa5x_map\x81\xa1" "a\x91\xc3", 11));
  json_t *j = json_of(REC_ORG, &sb);
  assert_json_str(j, "name", "New name");
  assert_json_str(j, "country", "FR");
  json_t *th = json_object_get(j, "themes");
  assert_int_equal(json_array_size(th), 2);
  assert_string_equal(json_string_value(json_array_get(th, 0)), "children");
  assert_null(json_object_get(j, "city"));
  json_decref(j);
  msgpack_sbuffer_destroy(&sb);

  /* nothing to change: the same fields, known ones in schema order */
  msgpack_sbuffer_init(&sb);
  assert_int_equal(body_edit(REC_ORG, (uint8_t *)old.data, old.size, NULL, 0, NULL, 0,
                             NULL, &sb, &err), 0);
  keys_of(&sb, keys, sizeof keys);
  assert_string_equal(keys, "name,country,themes,city,x_odd,x_map");
  assert_int_equal(sb.size, old.size);
  msgpack_sbuffer_destroy(&sb);

  /* unset an unknown field; set a field to blank removes it */
  const char *unset2[] = {"x_odd"};
  body_kv blank[] = {{"themes", ""}};
  msgpack_sbuffer_init(&sb);
  assert_int_equal(body_edit(REC_ORG, (uint8_t *)old.data, old.size, blank, 1, unset2, 1,
                             NULL, &sb, &err), 0);
  keys_of(&sb, keys, sizeof keys);
  assert_string_equal(keys, "name,country,city,x_map");
  msgpack_sbuffer_destroy(&sb);

  /* errors */
  msgpack_sbuffer_init(&sb);
  const char *both[] = {"name"};
  assert_int_equal(body_edit(REC_ORG, (uint8_t *)old.data, old.size, set, 1, both, 1, NULL,
                             &sb, &err), STOA_ESCHEMA);
  assert_string_equal(err.field, "name");
  const char *nosuch[] = {"x_none"};
  assert_int_equal(body_edit(REC_ORG, (uint8_t *)old.data, old.size, NULL, 0, nosuch, 1,
                             NULL, &sb, &err), STOA_ESCHEMA);
  assert_string_equal(err.field, "x_none");
  body_kv unknown[] = {{"x_odd", "1"}};
  assert_int_equal(body_edit(REC_ORG, (uint8_t *)old.data, old.size, unknown, 1, NULL, 0,
                             NULL, &sb, &err), STOA_ESCHEMA);
  body_kv badc[] = {{"country", "XX"}};
  assert_int_equal(body_edit(REC_ORG, (uint8_t *)old.data, old.size, badc, 1, NULL, 0,
                             NULL, &sb, &err), STOA_ESCHEMA);
  assert_string_equal(err.field, "country");
  assert_int_not_equal(body_edit(REC_ORG, (uint8_t *)old.data, old.size - 1, NULL, 0, NULL,
                                 0, NULL, &sb, &err), 0);
  assert_int_not_equal(body_edit(REC_ORG, (const uint8_t *)"\x81\x01\x02", 3, NULL, 0, NULL,
                                 0, NULL, &sb, &err), 0);
  assert_int_not_equal(body_edit(REC_ORG, (const uint8_t *)"\x92\x01\x02", 3, NULL, 0, NULL,
                                 0, NULL, &sb, &err), 0);
  assert_int_equal(sb.size, 0);
  msgpack_sbuffer_destroy(&sb);
  msgpack_sbuffer_destroy(&old);
}

/* ---- CSV ------------------------------------------------------------------- */

static body_csv_row row, hdr;

static FILE *mem(const char *s, size_t n) {
  FILE *f = fmemopen((void *)s, n, "r");
  assert_non_null(f);
  return f;
}

#define MEM(lit) mem(lit, sizeof(lit) - 1)

static void expect_row(body_csv_reader *rd, unsigned long line, size_t n, ...) {
  va_list ap;
  int r = body_csv_read_row(rd, &row);
  if (r != 1) fail_msg("line %lu: got %s", line, stoa_errname(r));
  assert_int_equal(row.line, line);
  assert_int_equal(row.n, n);
  va_start(ap, n);
  for (size_t i = 0; i < n; i++) {
    const char *want = va_arg(ap, const char *);
    assert_string_equal(row.col[i], want);
    assert_int_equal(row.len[i], strlen(want));
  }
  va_end(ap);
}

static void test_csv_read(void **state) {
  (void)state;
  body_csv_reader rd;
  FILE *f = MEM("\xef\xbb\xbfid,name,\"note\"\r\n"
                "1,\"a, b\",\"say \"\"hi\"\"\"\r\n"
                "\r\n\n"
                "2,\"two\r\nlines\",\"x\ny\"\n"
                "3,,\r"
                "\"\",plain\"quote,end");
  body_csv_reader_init(&rd, f);
  expect_row(&rd, 1, 3, "id", "name", "note");
  expect_row(&rd, 2, 3, "1", "a, b", "say \"hi\"");
  expect_row(&rd, 5, 3, "2", "two\nlines", "x\ny");
  expect_row(&rd, 8, 3, "3", "", "");
  expect_row(&rd, 9, 3, "", "plain\"quote", "end");
  assert_int_equal(body_csv_read_row(&rd, &row), 0);
  assert_int_equal(body_csv_read_row(&rd, &row), 0);
  fclose(f);

  /* no BOM, but a first character that starts like one (U+FF08) */
  f = MEM("\xef\xbc\x88x\xef\xbb\xbf,\xef\n");
  body_csv_reader_init(&rd, f);
  expect_row(&rd, 1, 2, "\xef\xbc\x88x\xef\xbb\xbf", "\xef");
  assert_int_equal(body_csv_read_row(&rd, &row), 0);
  fclose(f);
  f = MEM("\xef\xbb");
  body_csv_reader_init(&rd, f);
  expect_row(&rd, 1, 1, "\xef\xbb");
  fclose(f);
  f = MEM("");
  body_csv_reader_init(&rd, f);
  assert_int_equal(body_csv_read_row(&rd, &row), 0);
  fclose(f);
  f = MEM("\xef\xbb\xbf");
  body_csv_reader_init(&rd, f);
  assert_int_equal(body_csv_read_row(&rd, &row), 0);
  fclose(f);

  /* errors: the bad row is consumed, the next one reads */
  f = MEM("a,\"b\"c,d\nok\n\"x\0y\"\nok2\n\"open,\nend");
  body_csv_reader_init(&rd, f);
  assert_int_equal(body_csv_read_row(&rd, &row), STOA_EMALFORMED);
  assert_int_equal(row.line, 1);
  expect_row(&rd, 2, 1, "ok");
  assert_int_equal(body_csv_read_row(&rd, &row), STOA_EMALFORMED);
  assert_int_equal(row.line, 3);
  expect_row(&rd, 4, 1, "ok2");
  assert_int_equal(body_csv_read_row(&rd, &row), STOA_EMALFORMED);
  assert_int_equal(row.line, 5);
  assert_int_equal(body_csv_read_row(&rd, &row), 0);
  fclose(f);
}

/* The separator is the first comma, semicolon or tab outside quotes; the
 * others are then text.  A UTF-16 byte-order mark is noted. */
static void test_csv_separator(void **state) {
  (void)state;
  body_csv_reader rd;
  FILE *f = MEM("name;themes;note\r\n\"Caf\xc3\xa9; Solidaire\";\"a;b\";Dupont, Jean\r\n");
  body_csv_reader_init(&rd, f);
  expect_row(&rd, 1, 3, "name", "themes", "note");
  assert_int_equal(rd.sep, ';');
  expect_row(&rd, 2, 3, "Caf\xc3\xa9; Solidaire", "a;b", "Dupont, Jean");
  fclose(f);
  f = MEM("name\tcity\nA, B;C\tLyon\n");
  body_csv_reader_init(&rd, f);
  expect_row(&rd, 1, 2, "name", "city");
  expect_row(&rd, 2, 2, "A, B;C", "Lyon");
  assert_false(rd.utf16);
  fclose(f);
  /* in quotes a separator does not count; one column: no separator yet */
  f = MEM("\"a;b\",c;d\nx\ny,z\n");
  body_csv_reader_init(&rd, f);
  expect_row(&rd, 1, 2, "a;b", "c;d");
  assert_int_equal(rd.sep, ',');
  fclose(f);
  f = MEM("name\nOne;Two\n");
  body_csv_reader_init(&rd, f);
  expect_row(&rd, 1, 1, "name");
  assert_int_equal(rd.sep, 0);
  fclose(f);
  f = MEM("\xff\xfen\0a\0m\0e\0\n\0");
  body_csv_reader_init(&rd, f);
  body_csv_read_row(&rd, &row);
  assert_true(rd.utf16);
  fclose(f);
  f = MEM("\xfe\xff\0n\0a");
  body_csv_reader_init(&rd, f);
  body_csv_read_row(&rd, &row);
  assert_true(rd.utf16);
  fclose(f);
  f = MEM("\xff,x\n");
  body_csv_reader_init(&rd, f);
  expect_row(&rd, 1, 2, "\xff", "x");
  assert_false(rd.utf16);
  fclose(f);
}

static void test_csv_limits(void **state) {
  (void)state;
  body_csv_reader rd;
  size_t cap = 3 * BODY_CSV_MAX_ROW, o = 0;
  char *buf = malloc(cap);
  assert_non_null(buf);
  /* exactly 256 columns; then 257; then fine again */
  for (int i = 0; i < BODY_CSV_MAX_COLS; i++) o += (size_t)sprintf(buf + o, i ? ",%d" : "%d", i);
  buf[o++] = '\n';
  for (int i = 0; i <= BODY_CSV_MAX_COLS; i++) o += (size_t)sprintf(buf + o, i ? ",%d" : "%d", i);
  o += (size_t)sprintf(buf + o, "\nnext\n");
  /* a row of exactly the limit (with its newline), then one byte more */
  memset(buf + o, 'a', BODY_CSV_MAX_ROW - 1);
  o += BODY_CSV_MAX_ROW - 1;
  buf[o++] = '\n';
  buf[o++] = '"';
  memset(buf + o, 'b', BODY_CSV_MAX_ROW);
  o += BODY_CSV_MAX_ROW;
  o += (size_t)sprintf(buf + o, "\"\nlast");
  FILE *f = mem(buf, o);
  body_csv_reader_init(&rd, f);
  assert_int_equal(body_csv_read_row(&rd, &row), 1);
  assert_int_equal(row.n, BODY_CSV_MAX_COLS);
  assert_string_equal(row.col[255], "255");
  assert_int_equal(body_csv_read_row(&rd, &row), STOA_ETOOBIG);
  assert_int_equal(row.line, 2);
  expect_row(&rd, 3, 1, "next");
  assert_int_equal(body_csv_read_row(&rd, &row), 1);
  assert_int_equal(row.len[0], BODY_CSV_MAX_ROW - 1);
  assert_int_equal(body_csv_read_row(&rd, &row), STOA_ETOOBIG);
  assert_int_equal(row.line, 5);
  expect_row(&rd, 6, 1, "last");
  fclose(f);
  free(buf);
}

static void test_csv_write(void **state) {
  (void)state;
  static const char *const fields[] = {"plain", "a,b", "say \"hi\"", "two\nlines",
                                       " lead", "trail ", "", "cr\r", "\"", "é"};
  size_t nf = sizeof fields / sizeof fields[0];
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  for (size_t i = 0; i < nf; i++)
    assert_int_equal(body_csv_write_field(f, fields[i], strlen(fields[i]), 0, i + 1 == nf), 0);
  fclose(f);
  assert_string_equal(buf, "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\" lead\","
                           "\"trail \",,\"cr\r\",\"\"\"\",é\r\n");
  body_csv_reader rd;
  f = mem(buf, len);
  body_csv_reader_init(&rd, f);
  assert_int_equal(body_csv_read_row(&rd, &row), 1);
  assert_int_equal(row.n, nf);
  for (size_t i = 0; i < nf; i++) assert_string_equal(row.col[i], fields[i]);
  assert_int_equal(body_csv_read_row(&rd, &row), 0);
  fclose(f);
  free(buf);
}

/* Cells a spreadsheet would run as formulas get a leading quote (OWASP),
 * and the import takes it off again: every value comes back as it was. */
static void test_csv_formula(void **state) {
  (void)state;
  static const char *const fields[] = {"=1+2", "+30 210 0000000", "-5", "@SUM(A1)", "\tx",
                                       "\rx", "'=x", "''+y", "'s-Hertogenbosch", "a=b", "'",
                                       "plain"};
  enum { NF = sizeof fields / sizeof fields[0] };
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  for (size_t i = 0; i < NF; i++)
    assert_int_equal(body_csv_write_field(f, "h", 1, 0, i + 1 == NF), 0);
  for (size_t i = 0; i < NF; i++)
    assert_int_equal(body_csv_write_field(f, fields[i], strlen(fields[i]), 0, i + 1 == NF), 0);
  fclose(f);
  const char *data = strstr(buf, "\r\n") + 2;
  assert_string_equal(data, "'=1+2,'+30 210 0000000,'-5,'@SUM(A1),'\tx,\"'\rx\",''=x,'''+y,"
                            "'s-Hertogenbosch,a=b,',plain\r\n");
  /* No cell of the file starts with a formula character. */
  body_csv_reader rd;
  f = mem(buf, len);
  body_csv_reader_init(&rd, f);
  assert_int_equal(body_csv_read_row(&rd, &hdr), 1);
  assert_int_equal(body_csv_read_row(&rd, &row), 1);
  assert_int_equal(row.n, NF);
  for (size_t i = 0; i < NF; i++)
    assert_null(strchr("=+-@\t\r", row.col[i][0] ? row.col[i][0] : 'x'));
  body_kv in[BODY_CSV_MAX_COLS];
  body_error err;
  size_t n;
  const char *id;
  assert_int_equal(body_csv_kv(&hdr, &row, in, &n, &id, &err), 0);
  assert_int_equal(n, NF);
  for (size_t i = 0; i < NF; i++) assert_string_equal(in[i].value, fields[i]);
  fclose(f);
  free(buf);

  /* Through a whole record: export, import, the same body. */
  body_kv kv[] = {{"name", "=HYPERLINK(\"http://x.example\",\"click\")"}, {"country", "GR"},
                  {"type", "ngo"}, {"phone", "+30 210 1234567"}, {"description", "-- a dash"},
                  {"city", "@home"}};
  msgpack_sbuffer sb, back;
  msgpack_sbuffer_init(&sb);
  msgpack_sbuffer_init(&back);
  assert_int_equal(body_from_kv(REC_ORG, kv, 6, &res, &sb, &err), 0);
  buf = NULL;
  f = open_memstream(&buf, &len);
  assert_int_equal(body_csv_write_header(f, REC_ORG, 0), 0);
  assert_int_equal(body_csv_write_row(f, REC_ORG, "abc", (uint8_t *)sb.data, sb.size, NULL), 0);
  fclose(f);
  assert_non_null(strstr(buf, "\"'=HYPERLINK("));
  assert_non_null(strstr(buf, ",'+30 210 1234567,"));
  assert_non_null(strstr(buf, ",'@home,"));
  f = mem(buf, len);
  body_csv_reader_init(&rd, f);
  assert_int_equal(body_csv_read_row(&rd, &hdr), 1);
  assert_int_equal(body_csv_read_row(&rd, &row), 1);
  assert_int_equal(body_csv_kv(&hdr, &row, in, &n, &id, &err), 0);
  assert_int_equal(body_from_kv(REC_ORG, in, n, &res, &back, &err), 0);
  assert_int_equal(back.size, sb.size);
  assert_memory_equal(back.data, sb.data, sb.size);
  fclose(f);
  free(buf);
  msgpack_sbuffer_destroy(&sb);
  msgpack_sbuffer_destroy(&back);
}

/* Export to CSV and import again: the same body. */
static void test_csv_roundtrip(void **state) {
  (void)state;
  body_kv kv[] = {{"name", "Réseau, \"uni\""}, {"country", "PH"}, {"type", "network"},
                  {"themes", "gender;diaspora"}, {"description", "line 1\nline 2"},
                  {"founded", "2001"}, {"member_of", "0a11;7f"}};
  msgpack_sbuffer sb, back;
  body_error err;
  msgpack_sbuffer_init(&sb);
  msgpack_sbuffer_init(&back);
  assert_int_equal(body_from_kv(REC_ORG, kv, 7, &res, &sb, &err), 0);

  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_int_equal(body_csv_write_header(f, REC_ORG, 0), 0);
  assert_int_equal(body_csv_write_row(f, REC_ORG, "abc", (uint8_t *)sb.data, sb.size, NULL), 0);
  assert_int_equal(body_csv_write_row(f, REC_ORG, "", (const uint8_t *)"\x80", 1, NULL), 0);
  assert_int_equal(body_csv_write_row(f, REC_ORG, "x", (const uint8_t *)"\x81", 1, NULL),
                   STOA_ETRUNCATED);
  assert_int_equal(body_csv_write_header(f, 99, 0), STOA_EKIND);
  fclose(f);
  assert_non_null(strstr(buf, "id,name,country,type,themes,languages,website,email,phone,"
                              "city,description,founded,member_of\r\n"));

  body_csv_reader rd;
  body_kv in[BODY_CSV_MAX_COLS];
  size_t n;
  const char *id;
  f = mem(buf, len);
  body_csv_reader_init(&rd, f);
  assert_int_equal(body_csv_read_row(&rd, &hdr), 1);
  assert_int_equal(body_csv_read_row(&rd, &row), 1);
  assert_int_equal(body_csv_kv(&hdr, &row, in, &n, &id, &err), 0);
  assert_string_equal(id, "abc");
  assert_int_equal(n, 7);
  assert_int_equal(body_from_kv(REC_ORG, in, n, &res, &back, &err), 0);
  assert_int_equal(back.size, sb.size);
  assert_memory_equal(back.data, sb.data, sb.size);
  assert_int_equal(body_csv_read_row(&rd, &row), 1); /* the empty body: all blank */
  assert_int_equal(body_csv_kv(&hdr, &row, in, &n, &id, &err), 0);
  assert_int_equal(n, 0);
  assert_int_equal(body_csv_read_row(&rd, &row), 0);
  fclose(f);

  /* a cell beyond the header */
  f = MEM("name\nA,B\nC,\n");
  body_csv_reader_init(&rd, f);
  assert_int_equal(body_csv_read_row(&rd, &hdr), 1);
  assert_int_equal(body_csv_read_row(&rd, &row), 1);
  assert_int_equal(body_csv_kv(&hdr, &row, in, &n, &id, &err), STOA_EMALFORMED);
  assert_int_equal(body_csv_read_row(&rd, &row), 1);
  assert_int_equal(body_csv_kv(&hdr, &row, in, &n, &id, &err), 0);
  assert_int_equal(n, 1);
  fclose(f);
  free(buf);
  msgpack_sbuffer_destroy(&sb);
  msgpack_sbuffer_destroy(&back);
}

int main(void) {
  entries_init();
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_kv_org_all_types),
    cmocka_unit_test(test_kv_other_kinds),
    cmocka_unit_test(test_kv_bad_values),
    cmocka_unit_test(test_kv_empty_and_lists),
    cmocka_unit_test(test_json_roundtrip),
    cmocka_unit_test(test_json_types),
    cmocka_unit_test(test_json_depth),
    cmocka_unit_test(test_to_json),
    cmocka_unit_test(test_edit),
    cmocka_unit_test(test_csv_read),
    cmocka_unit_test(test_csv_separator),
    cmocka_unit_test(test_csv_limits),
    cmocka_unit_test(test_csv_write),
    cmocka_unit_test(test_csv_formula),
    cmocka_unit_test(test_csv_roundtrip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
