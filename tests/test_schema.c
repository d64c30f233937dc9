/*
 * test_schema.c - body schemas and value checks (proto/schema.c).
 *
 * Bodies are built with msgpack-c's packer from literal key/value lists
 * written from the specification (docs/schemas.md), not from the tables
 * under test, so that a wrong table fails here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "proto/err.h"
#include "proto/mp.h"
#include "proto/schema.h"

/* ---- building bodies ------------------------------------------------- */

enum { V_STR = 1, V_INT, V_UINT, V_BOOL, V_NIL, V_FLOAT, V_BIN, V_STRS, V_BINS, V_RAW };

/* One key and its value: s for strings and raw bytes (n bytes if n > 0),
 * i for integers, booleans and bin sizes, l for string lists, n for the
 * count of a bin list. */
typedef struct kv {
  const char *k;
  int t;
  const char *s;
  int64_t i;
  const char *const *l;
  size_t n;
} kv;

typedef struct buf {
  msgpack_sbuffer sb;
  msgpack_packer pk;
} buf;

static void b_init(buf *b) {
  msgpack_sbuffer_init(&b->sb);
  msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
}

static void pack_strn(msgpack_packer *pk, const char *s, size_t n) {
  msgpack_pack_str(pk, n);
  msgpack_pack_str_body(pk, s, n);
}
static void pack_str(msgpack_packer *pk, const char *s) { pack_strn(pk, s, strlen(s)); }

static void pack_binfill(msgpack_packer *pk, size_t n, uint8_t fill) {
  uint8_t b[256];
  memset(b, fill, sizeof(b));
  msgpack_pack_bin(pk, n);
  msgpack_pack_bin_body(pk, b, n);
}

static void pack_kv(buf *b, const kv *p) {
  msgpack_packer *pk = &b->pk;
  pack_str(pk, p->k);
  switch (p->t) {
  case V_STR: pack_strn(pk, p->s, p->n ? p->n : strlen(p->s)); break;
  case V_INT: msgpack_pack_int64(pk, p->i); break;
  case V_UINT: msgpack_pack_uint64(pk, (uint64_t)p->i); break;
  case V_BOOL: p->i ? msgpack_pack_true(pk) : msgpack_pack_false(pk); break;
  case V_NIL: msgpack_pack_nil(pk); break;
  case V_FLOAT: msgpack_pack_double(pk, 1.5); break;
  case V_BIN: pack_binfill(pk, (size_t)p->i, 0xab); break;
  case V_STRS: {
    size_t n = 0;
    while (p->l[n]) n++;
    msgpack_pack_array(pk, n);
    for (size_t j = 0; j < n; j++) pack_str(pk, p->l[j]);
    break;
  }
  case V_BINS:
    msgpack_pack_array(pk, p->n);
    for (size_t j = 0; j < p->n; j++) pack_binfill(pk, (size_t)p->i, (uint8_t)(j + 1));
    break;
  case V_RAW: msgpack_sbuffer_write(&b->sb, p->s, p->n); break;
  default: fail_msg("bad kv type %d", p->t);
  }
}

static size_t kv_count(const kv *l) {
  size_t n = 0;
  while (l && l[n].k) n++;
  return n;
}

/* The pairs of `good` except the one keyed `skip`, then those of `extra`. */
static void build(buf *b, const kv *good, const char *skip, const kv *extra) {
  size_t n = 0;
  b_init(b);
  if (!good) return; /* every caller passes a list */
  for (size_t i = 0; good[i].k; i++)
    if (!skip || strcmp(good[i].k, skip) != 0) n++;
  msgpack_pack_map(&b->pk, n + kv_count(extra));
  for (size_t i = 0; good[i].k; i++)
    if (!skip || strcmp(good[i].k, skip) != 0) pack_kv(b, &good[i]);
  for (size_t i = 0; extra && extra[i].k; i++) pack_kv(b, &extra[i]);
}

static int check_buf(int kind, buf *b, schema_error *why) {
  memset(why, 0x5a, sizeof(*why)); /* must be overwritten */
  int rc = schema_check(kind, (const uint8_t *)b->sb.data, b->sb.size, why);
  msgpack_sbuffer_destroy(&b->sb);
  return rc;
}

static int try(int kind, const kv *good, const char *skip, const kv *extra, schema_error *why) {
  buf b;
  build(&b, good, skip, extra);
  return check_buf(kind, &b, why);
}

/* good with the value of `field` replaced by `v` (v->k is set to field). */
static int try_with(int kind, const kv *good, const char *field, kv v, schema_error *why) {
  kv extra[2] = {v, {0}};
  extra[0].k = field;
  return try(kind, good, field, extra, why);
}

#define ASSERT_OK(rc, why)                                                   \
  do {                                                                       \
    int rc_ = (rc);                                                          \
    if (rc_ != 0) fail_msg("rc %d field '%s': %s", rc_, (why).field, (why).msg); \
  } while (0)

#define ASSERT_SCHEMA(rc, why, fname)                                        \
  do {                                                                       \
    assert_int_equal(rc, STOA_ESCHEMA);                                      \
    assert_string_equal((why).field, fname);                                 \
    assert_true(strlen((why).msg) > 0);                                      \
  } while (0)

#define ASSERT_MSG_HAS(why, needle)                                          \
  do {                                                                       \
    if (!strstr((why).msg, needle)) fail_msg("msg '%s' lacks '%s'", (why).msg, needle); \
  } while (0)

/* ---- valid bodies, from the specification ---------------------------- */

static const char *const some_themes[] = {"remittances", "gender", NULL};
static const char *const some_langs[] = {"en", "tl", "fil-PH", NULL};
static const char *const some_countries[] = {"PH", "SA", "AE", NULL};
static const char *const some_urls[] = {"https://example.org/report.pdf",
                                        "http://example.net/eval?id=3", NULL};
static const char *const some_addrs[] = {"hub.example.org:7777", "192.0.2.1:7777",
                                         "[2001:db8::1]:7777", NULL};

static const kv org_good[] = {
  {"name", V_STR, "Migrant Forum in Asia", 0, NULL, 0},
  {"country", V_STR, "PH", 0, NULL, 0},
  {"type", V_STR, "network", 0, NULL, 0},
  {"themes", V_STRS, NULL, 0, some_themes, 0},
  {"languages", V_STRS, NULL, 0, some_langs, 0},
  {"website", V_STR, "https://www.example.org/", 0, NULL, 0},
  {"email", V_STR, "info@example.org", 0, NULL, 0},
  {"phone", V_STR, "+63 2 8277 9484", 0, NULL, 0},
  {"city", V_STR, "Quezon City", 0, NULL, 0},
  {"description", V_STR, "A regional network.\n\tOf migrant groups.", 0, NULL, 0},
  {"founded", V_INT, NULL, 1994, NULL, 0},
  {"member_of", V_BINS, NULL, 48, NULL, 2},
  {0},
};
static const kv org_min[] = {
  {"name", V_STR, "Société d'entraide", 0, NULL, 0},
  {"country", V_STR, "SN", 0, NULL, 0},
  {"type", V_STR, "ngo", 0, NULL, 0},
  {0},
};
static const kv actor_good[] = {
  {"name", V_STR, "Maria Santos", 0, NULL, 0},
  {"role", V_STR, "Coordinator", 0, NULL, 0},
  {"org", V_BIN, NULL, 48, NULL, 0},
  {"country", V_STR, "XK", 0, NULL, 0},
  {"themes", V_STRS, NULL, 0, some_themes, 0},
  {"languages", V_STRS, NULL, 0, some_langs, 0},
  {"contact", V_STR, "maria@example.org\n+63 917 000 0000", 0, NULL, 0},
  {"consent", V_BOOL, NULL, 1, NULL, 0},
  {0},
};
static const kv actor_min[] = {{"name", V_STR, "Focal point, Dakar", 0, NULL, 0}, {0}};
static const kv practice_good[] = {
  {"title", V_STR, "Pre-departure orientation by returnees", 0, NULL, 0},
  {"summary", V_STR, "Returnees ran the sessions.", 0, NULL, 0},
  {"themes", V_STRS, NULL, 0, some_themes, 0},
  {"countries", V_STRS, NULL, 0, some_countries, 0},
  {"orgs", V_BINS, NULL, 48, NULL, 3},
  {"period", V_STR, "2015-2019", 0, NULL, 0},
  {"worked", V_STR, "Trust.", 0, NULL, 0},
  {"failed", V_STR, "Funding.", 0, NULL, 0},
  {"evidence", V_STRS, NULL, 0, some_urls, 0},
  {"status", V_STR, "completed", 0, NULL, 0},
  {0},
};
static const char *const one_theme[] = {"climate", NULL};
static const kv practice_min[] = {
  {"title", V_STR, "T", 0, NULL, 0},
  {"summary", V_STR, "S", 0, NULL, 0},
  {"themes", V_STRS, NULL, 0, one_theme, 0},
  {0},
};
static const kv trust_good[] = {
  {"subject", V_BIN, NULL, 32, NULL, 0},
  {"role", V_STR, "member", 0, NULL, 0},
  {"note", V_STR, "Admitted at the 2024 assembly.", 0, NULL, 0},
  {0},
};
static const kv erase_good[] = {
  {"target", V_BIN, NULL, 48, NULL, 0},
  {"until", V_UINT, NULL, 1718000000000, NULL, 0},
  {"reason", V_STR, "The person asked to be removed.", 0, NULL, 0},
  {0},
};
static const kv peer_good[] = {
  {"node", V_BIN, NULL, 32, NULL, 0},
  {"addrs", V_STRS, NULL, 0, some_addrs, 0},
  {"hub", V_BOOL, NULL, 1, NULL, 0},
  {0},
};

static const kv *good_of(int kind) {
  switch (kind) {
  case REC_ORG: return org_good;
  case REC_ACTOR: return actor_good;
  case REC_PRACTICE: return practice_good;
  case REC_ENDORSE: case REC_REVOKE: return trust_good;
  case REC_ERASE: return erase_good;
  case REC_PEER: return peer_good;
  default: return NULL;
  }
}

static void test_valid_bodies(void **state) {
  (void)state;
  schema_error why;
  for (int k = REC_ORG; k <= REC_PEER; k++) {
    int rc = try(k, good_of(k), NULL, NULL, &why);
    ASSERT_OK(rc, why);
    assert_string_equal(why.field, "");
    assert_string_equal(why.msg, "");
  }
  ASSERT_OK(try(REC_ORG, org_min, NULL, NULL, &why), why);
  ASSERT_OK(try(REC_ACTOR, actor_min, NULL, NULL, &why), why);
  ASSERT_OK(try(REC_PRACTICE, practice_min, NULL, NULL, &why), why);
  const kv erase_min[] = {{"target", V_BIN, NULL, 48, NULL, 0}, {"until", V_UINT, NULL, 0, NULL, 0}, {0}};
  ASSERT_OK(try(REC_ERASE, erase_min, NULL, NULL, &why), why);
  /* why may be NULL */
  buf b;
  build(&b, org_good, NULL, NULL);
  assert_int_equal(schema_check(REC_ORG, (const uint8_t *)b.sb.data, b.sb.size, NULL), 0);
  msgpack_sbuffer_destroy(&b.sb);
}

/* ---- the tables against the specification ---------------------------- */

#define R SFF_REQUIRED
#define L SFF_LIST
#define T SFF_TEXT
#define TI SFF_TITLE
#define O SFF_OPEN
static const struct spec {
  int kind;
  const char *name;
  int type, flags;
  uint32_t max;
} spec[] = {
  {REC_ORG, "name", SF_STR, R | T | TI, 200}, {REC_ORG, "country", SF_COUNTRY, R, 0},
  {REC_ORG, "type", SF_ENUM, R | O, 0}, {REC_ORG, "themes", SF_THEME, L | O, 17},
  {REC_ORG, "languages", SF_LANG, L, 20}, {REC_ORG, "website", SF_URL, 0, 500},
  {REC_ORG, "email", SF_EMAIL, 0, 254}, {REC_ORG, "phone", SF_PHONE, 0, 40},
  {REC_ORG, "city", SF_STR, T, 100}, {REC_ORG, "description", SF_STR, T, 8000},
  {REC_ORG, "founded", SF_INT, 0, 0}, {REC_ORG, "member_of", SF_REF, L, 50},
  {REC_ACTOR, "name", SF_STR, R | T | TI, 200}, {REC_ACTOR, "role", SF_STR, T, 200},
  {REC_ACTOR, "org", SF_REF, 0, 0}, {REC_ACTOR, "country", SF_COUNTRY, 0, 0},
  {REC_ACTOR, "themes", SF_THEME, L | O, 17}, {REC_ACTOR, "languages", SF_LANG, L, 20},
  {REC_ACTOR, "contact", SF_STR, 0, 500}, {REC_ACTOR, "consent", SF_BOOL, 0, 0},
  {REC_PRACTICE, "title", SF_STR, R | T | TI, 300},
  {REC_PRACTICE, "summary", SF_STR, R | T, 4000},
  {REC_PRACTICE, "themes", SF_THEME, R | L | O, 17},
  {REC_PRACTICE, "countries", SF_COUNTRY, L, 60}, {REC_PRACTICE, "orgs", SF_REF, L, 50},
  {REC_PRACTICE, "period", SF_PERIOD, 0, 0}, {REC_PRACTICE, "worked", SF_STR, T, 8000},
  {REC_PRACTICE, "failed", SF_STR, T, 8000}, {REC_PRACTICE, "evidence", SF_URL, L, 20},
  {REC_PRACTICE, "status", SF_ENUM, O, 0},
  {REC_ENDORSE, "subject", SF_KEY, R, 0}, {REC_ENDORSE, "role", SF_ENUM, R, 0},
  {REC_ENDORSE, "note", SF_STR, T, 500},
  {REC_REVOKE, "subject", SF_KEY, R, 0}, {REC_REVOKE, "role", SF_ENUM, R, 0},
  {REC_REVOKE, "note", SF_STR, T, 500},
  {REC_ERASE, "target", SF_REF, R, 0}, {REC_ERASE, "until", SF_TS, R, 0},
  {REC_ERASE, "reason", SF_STR, 0, 500},
  {REC_PEER, "node", SF_KEY, R, 0}, {REC_PEER, "addrs", SF_ADDR, R | L, 8},
  {REC_PEER, "hub", SF_BOOL, 0, 0},
};
#define NSPEC (sizeof(spec) / sizeof(spec[0]))

static void test_tables_match_spec(void **state) {
  (void)state;
  size_t total = 0, n;
  for (int k = REC_ORG; k <= REC_PEER; k++) {
    const schema_field *f = schema_fields(k, &n);
    assert_non_null(f);
    total += n;
    for (size_t i = 0; i < n; i++) {
      assert_non_null(f[i].help);
      assert_true(strlen(f[i].name) < sizeof(((schema_error *)0)->field));
      if (f[i].flags & SFF_LIST) assert_true(f[i].max <= 64);
      if (f[i].type == SF_ENUM) assert_non_null(f[i].vocab);
    }
  }
  assert_int_equal(total, NSPEC);
  for (size_t i = 0; i < NSPEC; i++) {
    const schema_field *f = schema_field_find(spec[i].kind, spec[i].name, strlen(spec[i].name));
    if (!f) fail_msg("kind %d lacks field %s", spec[i].kind, spec[i].name);
    assert_int_equal(f->type, spec[i].type);
    assert_int_equal(f->flags, spec[i].flags);
    if (spec[i].max) assert_int_equal(f->max, spec[i].max);
  }
  const schema_field *f = schema_field_find(REC_ORG, "founded", 7);
  assert_int_equal(f->min, 1800);
  assert_int_equal(f->maxv, 2100);
  assert_ptr_equal(schema_field_find(REC_ORG, "type", 4)->vocab, schema_org_types);
  assert_ptr_equal(schema_field_find(REC_ENDORSE, "role", 4)->vocab, schema_roles);
  assert_ptr_equal(schema_field_find(REC_PRACTICE, "status", 6)->vocab, schema_practice_status);
  /* the length counts, not a terminator */
  assert_ptr_equal(schema_field_find(REC_ORG, "namex", 4), schema_field_find(REC_ORG, "name", 4));
  assert_null(schema_field_find(REC_ORG, "nam", 3));
  assert_null(schema_field_find(REC_ORG, "title", 5));
  assert_null(schema_field_find(0, "name", 4));
  n = 99;
  assert_null(schema_fields(0, &n));
  assert_int_equal(n, 0);
  assert_null(schema_fields(REC_PEER + 1, &n));
}

static void test_vocabularies(void **state) {
  (void)state;
  static const char *const themes[] = {
    "recruitment", "labour-rights", "domestic-workers", "remittances", "diaspora",
    "health-workforce", "return-reintegration", "circular-migration", "integration",
    "anti-discrimination", "trafficking", "children", "gender", "climate",
    "research-data", "policy-coherence", "governance", NULL};
  static const char *const types[] = {"ngo", "diaspora", "union", "faith", "business",
    "academic", "government", "intergovernmental", "network", "other", NULL};
  static const char *const roles[] = {"member", "editor", "node", NULL};
  static const char *const status[] = {"planned", "ongoing", "completed", "discontinued", NULL};
  const char *const *want[] = {themes, types, roles, status};
  const char *const *got[] = {schema_themes, schema_org_types, schema_roles, schema_practice_status};
  for (size_t v = 0; v < 4; v++) {
    size_t i = 0;
    for (; want[v][i]; i++) assert_string_equal(got[v][i], want[v][i]);
    assert_null(got[v][i]);
  }
  schema_error why;
  /* every theme at once: 17 items, the maximum */
  ASSERT_OK(try_with(REC_PRACTICE, practice_good, "themes", (kv){NULL, V_STRS, NULL, 0, themes, 0}, &why), why);
  for (size_t i = 0; types[i]; i++)
    ASSERT_OK(try_with(REC_ORG, org_good, "type", (kv){NULL, V_STR, types[i], 0, NULL, 0}, &why), why);
  for (size_t i = 0; roles[i]; i++) {
    ASSERT_OK(try_with(REC_ENDORSE, trust_good, "role", (kv){NULL, V_STR, roles[i], 0, NULL, 0}, &why), why);
    ASSERT_OK(try_with(REC_REVOKE, trust_good, "role", (kv){NULL, V_STR, roles[i], 0, NULL, 0}, &why), why);
  }
  for (size_t i = 0; status[i]; i++)
    ASSERT_OK(try_with(REC_PRACTICE, practice_good, "status", (kv){NULL, V_STR, status[i], 0, NULL, 0}, &why), why);

  /* closed: the role of endorse/revoke lists what it takes */
  assert_int_equal(try_with(REC_ENDORSE, trust_good, "role", (kv){NULL, V_STR, "admin", 0, NULL, 0}, &why), STOA_ESCHEMA);
  ASSERT_SCHEMA(STOA_ESCHEMA, why, "role");
  ASSERT_MSG_HAS(why, "\"admin\"");
  ASSERT_MSG_HAS(why, "member, editor, node");
  /* open fields refuse what is no slug, and say why */
  assert_int_equal(try_with(REC_ORG, org_good, "type", (kv){NULL, V_STR, "NGO", 0, NULL, 0}, &why), STOA_ESCHEMA);
  ASSERT_SCHEMA(STOA_ESCHEMA, why, "type");
  ASSERT_MSG_HAS(why, "\"NGO\" is not a known value nor a slug");
  assert_int_equal(try_with(REC_PRACTICE, practice_good, "status", (kv){NULL, V_STR, "on hold", 0, NULL, 0}, &why), STOA_ESCHEMA);
  ASSERT_SCHEMA(STOA_ESCHEMA, why, "status");

  static const char *const bad_theme[] = {"gender", "Migration", NULL};
  int rc = try_with(REC_ORG, org_good, "themes", (kv){NULL, V_STRS, NULL, 0, bad_theme, 0}, &why);
  ASSERT_SCHEMA(rc, why, "themes");
  ASSERT_MSG_HAS(why, "item 2: \"Migration\" is not a known theme nor a slug");
  assert_true(schema_theme_valid("labour-rights", 13));
  assert_false(schema_theme_valid("Gender", 6));
  assert_false(schema_theme_valid("gender ", 7));
  assert_false(schema_theme_valid("", 0));
  assert_false(schema_enum_valid(NULL, "x", 1));
}

/* A later version's vocabulary value: taken in an open field when it has a
 * slug's shape (1..32 of a-z 0-9 '-', a letter first), refused otherwise,
 * and never in the role of a trust record. */
static void test_open_vocabularies(void **state) {
  (void)state;
  schema_error why;
  static const char *const new_theme[] = {"gender", "no-such-theme", NULL};
  static const char *const new_only[] = {"x2", NULL};
  ASSERT_OK(try_with(REC_ORG, org_good, "themes", (kv){NULL, V_STRS, NULL, 0, new_theme, 0}, &why), why);
  ASSERT_OK(try_with(REC_ACTOR, actor_good, "themes", (kv){NULL, V_STRS, NULL, 0, new_theme, 0}, &why), why);
  ASSERT_OK(try_with(REC_PRACTICE, practice_good, "themes", (kv){NULL, V_STRS, NULL, 0, new_only, 0}, &why), why);
  ASSERT_OK(try_with(REC_ORG, org_good, "type", (kv){NULL, V_STR, "cooperative", 0, NULL, 0}, &why), why);
  ASSERT_OK(try_with(REC_PRACTICE, practice_good, "status", (kv){NULL, V_STR, "on-hold", 0, NULL, 0}, &why), why);
  /* 32 bytes is the longest slug */
  char s32[33], s33[34];
  memset(s32, 'a', 32);
  s32[32] = '\0';
  memset(s33, 'a', 33);
  s33[33] = '\0';
  ASSERT_OK(try_with(REC_ORG, org_good, "type", (kv){NULL, V_STR, s32, 0, NULL, 0}, &why), why);

  /* not slugs: upper case, a space, 33 bytes, empty, a leading digit or
   * '-', other punctuation, non-ASCII */
  const char *const bad[] = {"Gender", "new theme", s33, "", "2030-agenda", "-x", "a_b",
                             "a.b", "caf\xc3\xa9", NULL};
  for (size_t i = 0; bad[i]; i++) {
    const char *one[] = {bad[i], NULL};
    int rc = try_with(REC_ORG, org_good, "themes", (kv){NULL, V_STRS, NULL, 0, one, 0}, &why);
    ASSERT_SCHEMA(rc, why, "themes");
    rc = try_with(REC_ORG, org_good, "type", (kv){NULL, V_STR, bad[i], 0, NULL, 0}, &why);
    ASSERT_SCHEMA(rc, why, "type");
    rc = try_with(REC_PRACTICE, practice_good, "status", (kv){NULL, V_STR, bad[i], 0, NULL, 0}, &why);
    ASSERT_SCHEMA(rc, why, "status");
    assert_false(schema_slug_valid(bad[i], strlen(bad[i])));
  }
  /* a NUL inside is no slug either */
  assert_false(schema_slug_valid("ab\0c", 4));
  assert_false(schema_slug_valid(NULL, 0));
  assert_true(schema_slug_valid(s32, 32));
  assert_true(schema_slug_valid("a", 1));
  assert_true(schema_slug_valid("a-0", 3));
  /* every known value is a slug, so the two rules agree on them */
  const char *const *vocabs[] = {schema_themes, schema_org_types, schema_roles, schema_practice_status};
  for (size_t v = 0; v < 4; v++)
    for (size_t i = 0; vocabs[v][i]; i++) assert_true(schema_slug_valid(vocabs[v][i], strlen(vocabs[v][i])));

  /* the role of a trust record stays closed: a slug it does not know fails */
  for (int k = REC_ENDORSE; k <= REC_REVOKE; k++) {
    int rc = try_with(k, trust_good, "role", (kv){NULL, V_STR, "observer", 0, NULL, 0}, &why);
    ASSERT_SCHEMA(rc, why, "role");
    ASSERT_MSG_HAS(why, "unknown value \"observer\"");
  }
  /* the strict checks the CLI uses are unchanged */
  assert_false(schema_theme_valid("no-such-theme", 13));
  assert_false(schema_enum_valid(schema_org_types, "cooperative", 11));
}

/* ---- required fields, types, lengths ----------------------------------- */

static void test_missing_required(void **state) {
  (void)state;
  schema_error why;
  size_t checked = 0;
  for (size_t i = 0; i < NSPEC; i++) {
    if (!(spec[i].flags & R)) continue;
    int rc = try(spec[i].kind, good_of(spec[i].kind), spec[i].name, NULL, &why);
    ASSERT_SCHEMA(rc, why, spec[i].name);
    assert_string_equal(why.msg, "required field missing");
    checked++;
  }
  assert_int_equal(checked, 15);
  /* optional fields may all be left out (the *_min bodies pass); a required
   * list needs an item, an optional one may be empty */
  static const char *const none[] = {NULL};
  int rc = try_with(REC_PRACTICE, practice_good, "themes", (kv){NULL, V_STRS, NULL, 0, none, 0}, &why);
  ASSERT_SCHEMA(rc, why, "themes");
  ASSERT_MSG_HAS(why, "at least one");
  rc = try_with(REC_PEER, peer_good, "addrs", (kv){NULL, V_STRS, NULL, 0, none, 0}, &why);
  ASSERT_SCHEMA(rc, why, "addrs");
  ASSERT_OK(try_with(REC_ORG, org_good, "themes", (kv){NULL, V_STRS, NULL, 0, none, 0}, &why), why);
}

static void test_wrong_types(void **state) {
  (void)state;
  static const char *const strs[] = {"x", NULL};
  const struct { int kind; const char *field; kv v; } cases[] = {
    {REC_ORG, "name", {NULL, V_INT, NULL, 5, NULL, 0}},
    {REC_ORG, "name", {NULL, V_BIN, NULL, 4, NULL, 0}},
    {REC_ORG, "name", {NULL, V_STRS, NULL, 0, strs, 0}},
    {REC_ORG, "country", {NULL, V_NIL, NULL, 0, NULL, 0}},
    {REC_ORG, "founded", {NULL, V_STR, "1994", 0, NULL, 0}},
    {REC_ORG, "founded", {NULL, V_FLOAT, NULL, 0, NULL, 0}},
    {REC_ORG, "themes", {NULL, V_STR, "gender", 0, NULL, 0}},
    {REC_ORG, "website", {NULL, V_NIL, NULL, 0, NULL, 0}},
    {REC_ORG, "member_of", {NULL, V_BIN, NULL, 48, NULL, 0}},
    {REC_ORG, "member_of", {NULL, V_STRS, NULL, 0, strs, 0}},
    {REC_ACTOR, "consent", {NULL, V_STR, "yes", 0, NULL, 0}},
    {REC_ACTOR, "consent", {NULL, V_INT, NULL, 1, NULL, 0}},
    {REC_ACTOR, "org", {NULL, V_STR, "abc", 0, NULL, 0}},
    {REC_PRACTICE, "period", {NULL, V_INT, NULL, 2015, NULL, 0}},
    {REC_ENDORSE, "subject", {NULL, V_STR, "key", 0, NULL, 0}},
    {REC_ERASE, "until", {NULL, V_INT, NULL, -1, NULL, 0}},
    {REC_ERASE, "until", {NULL, V_FLOAT, NULL, 0, NULL, 0}},
    {REC_ERASE, "until", {NULL, V_STR, "2024", 0, NULL, 0}},
    {REC_PEER, "hub", {NULL, V_INT, NULL, 1, NULL, 0}},
    {REC_PEER, "addrs", {NULL, V_STR, "a.example:1", 0, NULL, 0}},
  };
  schema_error why;
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int rc = try_with(cases[i].kind, good_of(cases[i].kind), cases[i].field, cases[i].v, &why);
    ASSERT_SCHEMA(rc, why, cases[i].field);
    ASSERT_MSG_HAS(why, "expected");
  }
}

static void test_lengths(void **state) {
  (void)state;
  static char s[8100];
  schema_error why;
  int rc;
  memset(s, 'a', sizeof(s));
  const struct { int kind; const char *field; size_t max; } cases[] = {
    {REC_ORG, "name", 200}, {REC_ORG, "city", 100}, {REC_ORG, "description", 8000},
    {REC_ACTOR, "name", 200}, {REC_ACTOR, "role", 200}, {REC_ACTOR, "contact", 500},
    {REC_PRACTICE, "title", 300}, {REC_PRACTICE, "summary", 4000},
    {REC_PRACTICE, "worked", 8000}, {REC_PRACTICE, "failed", 8000},
    {REC_ENDORSE, "note", 500}, {REC_REVOKE, "note", 500}, {REC_ERASE, "reason", 500},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const kv *g = good_of(cases[i].kind);
    ASSERT_OK(try_with(cases[i].kind, g, cases[i].field, (kv){NULL, V_STR, s, 0, NULL, cases[i].max}, &why), why);
    rc = try_with(cases[i].kind, g, cases[i].field, (kv){NULL, V_STR, s, 0, NULL, cases[i].max + 1}, &why);
    ASSERT_SCHEMA(rc, why, cases[i].field);
    char want[80];
    snprintf(want, sizeof(want), "too long (%zu bytes, at most %zu)", cases[i].max + 1, cases[i].max);
    assert_string_equal(why.msg, want);
  }
  /* bytes, not characters: 100 x "é" is 200 bytes */
  for (size_t i = 0; i < 101; i++) memcpy(s + 2 * i, "\xc3\xa9", 2);
  ASSERT_OK(try_with(REC_ORG, org_good, "name", (kv){NULL, V_STR, s, 0, NULL, 200}, &why), why);
  rc = try_with(REC_ORG, org_good, "name", (kv){NULL, V_STR, s, 0, NULL, 202}, &why);
  ASSERT_SCHEMA(rc, why, "name");
  ASSERT_MSG_HAS(why, "202 bytes");
  /* typed strings: website 500, email 254, phone 40 */
  memcpy(s, "https://example.org/", 20);
  memset(s + 20, 'p', 500);
  ASSERT_OK(try_with(REC_ORG, org_good, "website", (kv){NULL, V_STR, s, 0, NULL, 500}, &why), why);
  rc = try_with(REC_ORG, org_good, "website", (kv){NULL, V_STR, s, 0, NULL, 501}, &why);
  ASSERT_SCHEMA(rc, why, "website");
  ASSERT_MSG_HAS(why, "too long");
  memset(s, '1', 41);
  ASSERT_OK(try_with(REC_ORG, org_good, "phone", (kv){NULL, V_STR, s, 0, NULL, 40}, &why), why);
  rc = try_with(REC_ORG, org_good, "phone", (kv){NULL, V_STR, s, 0, NULL, 41}, &why);
  ASSERT_SCHEMA(rc, why, "phone");
  /* an address of a peer: 255 bytes at most, each */
  char host[300], addr[320];
  size_t o = 0;
  for (int l = 0; l < 5; l++) { /* 5 labels of 49 + 4 dots = 249 */
    if (l) host[o++] = '.';
    memset(host + o, 'a' + l, 49);
    o += 49;
  }
  host[o] = '\0';
  snprintf(addr, sizeof(addr), "%s:65535", host);
  assert_int_equal(strlen(addr), 255);
  const char *one[] = {addr, NULL};
  ASSERT_OK(try_with(REC_PEER, peer_good, "addrs", (kv){NULL, V_STRS, NULL, 0, one, 0}, &why), why);
  snprintf(addr, sizeof(addr), "%sz:65535", host);
  rc = try_with(REC_PEER, peer_good, "addrs", (kv){NULL, V_STRS, NULL, 0, one, 0}, &why);
  ASSERT_SCHEMA(rc, why, "addrs");
  ASSERT_MSG_HAS(why, "item 1: too long (256 bytes, at most 255)");
  assert_false(schema_addr_valid(addr, strlen(addr)));
}

static void test_text_rules(void **state) {
  (void)state;
  schema_error why;
  int rc;
  const struct { int kind; const char *field; const char *v; bool ok; } cases[] = {
    {REC_ORG, "name", "", false},
    {REC_ORG, "name", "   ", false},
    {REC_ORG, "name", "\xc2\xa0\xe2\x80\x83", false},   /* NBSP, EM SPACE */
    {REC_ORG, "name", "\xe2\x80\x8b", false},           /* zero-width space */
    {REC_ORG, "name", "a\nb", false},
    {REC_ORG, "name", "a\tb", false},
    {REC_ORG, "name", " Ünïcödé — 移民 ", true},
    {REC_ORG, "description", "a\nb\tc", true},
    {REC_ORG, "description", "\n\t ", false},
    {REC_ORG, "description", "a\rb", false},
    {REC_ORG, "description", "a\x7f", false},
    {REC_ORG, "description", "a\x1b[31mred", false},
    {REC_ORG, "description", "a\xc2\x85z", false},       /* U+0085, C1 */
    {REC_ORG, "description", "a\xc2\x9b" "2J", false},    /* U+009B, CSI */
    {REC_ACTOR, "contact", "line 1\nline 2", true},
    {REC_ACTOR, "contact", "a\x01", false},
    {REC_PRACTICE, "title", "a\nb", false},
    {REC_PRACTICE, "summary", "two\nlines", true},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    rc = try_with(cases[i].kind, good_of(cases[i].kind), cases[i].field,
                  (kv){NULL, V_STR, cases[i].v, 0, NULL, 0}, &why);
    if (cases[i].ok) ASSERT_OK(rc, why);
    else ASSERT_SCHEMA(rc, why, cases[i].field);
  }
  rc = try_with(REC_ORG, org_good, "name", (kv){NULL, V_STR, "", 0, NULL, 0}, &why);
  assert_string_equal(why.msg, "empty");
  /* an embedded NUL is a control character too */
  rc = try_with(REC_ORG, org_good, "city", (kv){NULL, V_STR, "a\0b", 0, NULL, 3}, &why);
  ASSERT_SCHEMA(rc, why, "city");
  ASSERT_MSG_HAS(why, "U+0000");
}

static void test_integers_refs_keys(void **state) {
  (void)state;
  schema_error why;
  int rc;
  const struct { int64_t v; int t; bool ok; } years[] = {
    {1800, V_INT, true}, {2100, V_INT, true}, {2024, V_UINT, true}, {1799, V_INT, false},
    {2101, V_INT, false}, {-5, V_INT, false}, {-1, V_UINT, false}, /* 2^64-1 */
  };
  for (size_t i = 0; i < sizeof(years) / sizeof(years[0]); i++) {
    rc = try_with(REC_ORG, org_good, "founded", (kv){NULL, years[i].t, NULL, years[i].v, NULL, 0}, &why);
    if (years[i].ok) ASSERT_OK(rc, why);
    else {
      ASSERT_SCHEMA(rc, why, "founded");
      ASSERT_MSG_HAS(why, "1800..2100");
    }
  }
  const struct { int kind; const char *field; int t; size_t len, n; bool ok; } bins[] = {
    {REC_ORG, "member_of", V_BINS, 47, 1, false}, {REC_ORG, "member_of", V_BINS, 49, 1, false},
    {REC_ORG, "member_of", V_BINS, 48, 50, true}, {REC_ORG, "member_of", V_BINS, 48, 51, false},
    {REC_ACTOR, "org", V_BIN, 32, 0, false}, {REC_ENDORSE, "subject", V_BIN, 31, 0, false},
    {REC_ENDORSE, "subject", V_BIN, 33, 0, false}, {REC_ENDORSE, "subject", V_BIN, 48, 0, false},
    {REC_ERASE, "target", V_BIN, 32, 0, false}, {REC_PEER, "node", V_BIN, 0, 0, false},
    {REC_PRACTICE, "orgs", V_BINS, 48, 0, true},
  };
  for (size_t i = 0; i < sizeof(bins) / sizeof(bins[0]); i++) {
    rc = try_with(bins[i].kind, good_of(bins[i].kind), bins[i].field,
                  (kv){NULL, bins[i].t, NULL, (int64_t)bins[i].len, NULL, bins[i].n}, &why);
    if (bins[i].ok) ASSERT_OK(rc, why);
    else ASSERT_SCHEMA(rc, why, bins[i].field);
  }
  rc = try_with(REC_ENDORSE, trust_good, "subject", (kv){NULL, V_BIN, NULL, 31, NULL, 0}, &why);
  assert_string_equal(why.msg, "expected 32 bytes, got 31");
  ASSERT_OK(try_with(REC_ERASE, erase_good, "until", (kv){NULL, V_UINT, NULL, 0, NULL, 0}, &why), why);
  ASSERT_OK(try_with(REC_ERASE, erase_good, "until", (kv){NULL, V_UINT, NULL, -1, NULL, 0}, &why), why);
}

/* ---- value types -------------------------------------------------------- */

static void test_country(void **state) {
  (void)state;
  schema_error why;
  int rc, count = 0;
  char cc[3] = {0};
  for (cc[0] = 'A'; cc[0] <= 'Z'; cc[0]++)
    for (cc[1] = 'A'; cc[1] <= 'Z'; cc[1]++) {
      count += schema_country_valid(cc, 2);
      char lc[2] = {(char)(cc[0] | 0x20), (char)(cc[1] | 0x20)};
      assert_false(schema_country_valid(lc, 2));
    }
  assert_int_equal(count, 250); /* 249 assigned + XK */
  const char *yes[] = {"FR", "PH", "XK", "SS", "CW", "SX", "BQ", "AX", "PS", "TW", "EH", "AQ"};
  const char *no[] = {"ZZ", "UK", "EU", "AN", "YU", "CS", "XX", "QO", "AA", "F", "FRA", "", "fr", "Fr"};
  for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
    assert_true(schema_country_valid(yes[i], strlen(yes[i])));
  for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
    assert_false(schema_country_valid(no[i], strlen(no[i])));
  assert_false(schema_country_valid("FR", 3)); /* the NUL counts */

  rc = try_with(REC_ORG, org_good, "country", (kv){NULL, V_STR, "ZZ", 0, NULL, 0}, &why);
  ASSERT_SCHEMA(rc, why, "country");
  ASSERT_MSG_HAS(why, "unknown country code \"ZZ\"");
  rc = try_with(REC_ORG, org_good, "country", (kv){NULL, V_STR, "fr", 0, NULL, 0}, &why);
  ASSERT_SCHEMA(rc, why, "country");
  ASSERT_MSG_HAS(why, "upper case");
  ASSERT_MSG_HAS(why, "\"FR\"");
  rc = try_with(REC_ORG, org_good, "country", (kv){NULL, V_STR, "FRA", 0, NULL, 0}, &why);
  ASSERT_SCHEMA(rc, why, "country");
  static const char *const cs[] = {"FR", "fr", NULL};
  rc = try_with(REC_PRACTICE, practice_good, "countries", (kv){NULL, V_STRS, NULL, 0, cs, 0}, &why);
  ASSERT_SCHEMA(rc, why, "countries");
  ASSERT_MSG_HAS(why, "item 2:");
}

static void test_lang(void **state) {
  (void)state;
  const char *good[] = {
    "en", "fr-CA", "zh-Hant-TW", "sr-Latn-RS", "es-419", "de-CH-1996", "x-private",
    "EN-us", "fil", "fil-PH", "ast", "zh-yue-HK", "zh-cmn-Hans-CN", "sl-rozaj-biske",
    "hy-Latn-IT-arevela", "en-US-u-islamcal", "de-DE-u-co-phonebk", "en-a-bbb-x-a-ccc",
    "qaa-Qaaa-QM-x-southern", "sgn-BE-FR", "i-klingon", "en-GB-oed", "I-DEFAULT",
    "art-lojban", "zh-min-nan", "ar-aao-bbb-ccc", "english", "en-aaaaaaaa-bbbbbbbb-cccccccc-ddddd",
  };
  const char *bad[] = {
    "", "e", "en-", "-en", "en--US", "en_US", "en US", "123", "1en", "x", "x-",
    "en-x", "en-US-x", "en-a", "en-US-u", "en-a-bb-a-cc", "de-1996-1996",
    "zh-Hant-Hans", "abcdefghi", "en-abcdefghi", "i-notreal", "en-\xc3\xbc",
    "en-US-CA", "ar-aao-bbb-ccc-ddd", "en-aaaaaaaa-bbbbbbbb-cccccccc-dddddd",
    "en-GB-oed-x", "sgn-BE-FR-x", "ab-Latn-Latn", "en-1",
  };
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
    if (!schema_lang_valid(good[i], strlen(good[i]))) fail_msg("refused %s", good[i]);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (schema_lang_valid(bad[i], strlen(bad[i]))) fail_msg("accepted '%s'", bad[i]);
  assert_false(schema_lang_valid("en\0", 3));
  schema_error why;
  static const char *const langs[] = {"en", "en_GB", NULL};
  int rc = try_with(REC_ORG, org_good, "languages", (kv){NULL, V_STRS, NULL, 0, langs, 0}, &why);
  ASSERT_SCHEMA(rc, why, "languages");
  ASSERT_MSG_HAS(why, "item 2: not a BCP 47 language tag: \"en_GB\"");
  static const char *const same_but_case[] = {"en", "EN", NULL}; /* unique byte for byte */
  ASSERT_OK(try_with(REC_ORG, org_good, "languages", (kv){NULL, V_STRS, NULL, 0, same_but_case, 0}, &why), why);
}

static void test_url(void **state) {
  (void)state;
  const char *good[] = {
    "https://example.org", "http://example.org/", "http://example.org/path?q=1&r=%20#frag",
    "https://sub.example.co.uk:8443/a/b", "http://localhost:8080/", "http://LOCALHOST",
    "https://b\u00fccher.example/", "http://192.168.1.1/x", "HTTPS://EXAMPLE.ORG",
    "https://example.org?x", "https://example.org#top", "https://xn--bcher-kva.example",
    "https://example.org/caf\xc3\xa9", "https://a-b.example.org:1",
  };
  const char *bad[] = {
    "", "ftp://example.org", "example.org", "https://", "http://", "https://example",
    "https://exa mple.org", "https://example.org/a b", "https://-example.org",
    "https://example-.org", "https://example..org", "https://.example.org",
    "https://example.org.", "https://user@example.org", "https://user:pw@example.org",
    "https://example.org:0", "https://example.org:65536", "https://example.org:",
    "https://example.org:80a", "https://example.org:080", "javascript:alert(1)",
    "https://example.org/\x01", "https://example.org\n", "https://example.org/\xc2\xa0",
    "https://999.1.1.1/", "https://1.2.3/", "https://exa_mple.org", "https:/example.org",
    "https://[::1]/", "mailto:a@example.org", "https://example.org/\x7f",
    "https://\xe2\x80\x83.example.org",
  };
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
    if (!schema_url_valid(good[i], strlen(good[i]))) fail_msg("refused %s", good[i]);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (schema_url_valid(bad[i], strlen(bad[i]))) fail_msg("accepted '%s'", bad[i]);
  assert_false(schema_url_valid("https://a.org\0x", 15));
  schema_error why;
  int rc = try_with(REC_ORG, org_good, "website", (kv){NULL, V_STR, "www.example.org", 0, NULL, 0}, &why);
  ASSERT_SCHEMA(rc, why, "website");
  ASSERT_MSG_HAS(why, "URL");
  static const char *const ev[] = {"https://example.org/a", "ftp://example.org/b", NULL};
  rc = try_with(REC_PRACTICE, practice_good, "evidence", (kv){NULL, V_STRS, NULL, 0, ev, 0}, &why);
  ASSERT_SCHEMA(rc, why, "evidence");
  ASSERT_MSG_HAS(why, "item 2:");
}

static void test_email_phone_period(void **state) {
  (void)state;
  char local65[80];
  memset(local65, 'a', 65);
  strcpy(local65 + 65, "@example.org");
  const char *email_good[] = {
    "info@example.org", "a.b+tag@sub.example.co", "x@b\u00fccher.example",
    "user@localhost.localdomain", "o'brien@example.ie", "\xc3\xa9lise@example.fr",
    local65 + 1,
  };
  const char *email_bad[] = {
    "", "noat", "a@b", "@example.org", "a@", "a@@example.org", "a@b@example.org",
    "a b@example.org", "a@-example.org", "a@example-.org", "a@example..org",
    "a@example.org ", "a@exa_mple.org", "a@.example.org", "a\x01@example.org",
    "a@example.org.", local65,
  };
  for (size_t i = 0; i < sizeof(email_good) / sizeof(email_good[0]); i++)
    if (!schema_email_valid(email_good[i], strlen(email_good[i]))) fail_msg("refused %s", email_good[i]);
  for (size_t i = 0; i < sizeof(email_bad) / sizeof(email_bad[0]); i++)
    if (schema_email_valid(email_bad[i], strlen(email_bad[i]))) fail_msg("accepted '%s'", email_bad[i]);

  const char *phone_good[] = {"+63 2 8277 9484", "(030) 123-456", "1234", "+1.555.123.4567",
                              "030/12345", "+221 33 000 00 00"};
  const char *phone_bad[] = {"", "123", "+63 2 abc", "call me", "1234x", "12\n34", "+-()./ ",
                             "1234567890123456789012345678901234567890X"};
  for (size_t i = 0; i < sizeof(phone_good) / sizeof(phone_good[0]); i++)
    if (!schema_phone_valid(phone_good[i], strlen(phone_good[i]))) fail_msg("refused %s", phone_good[i]);
  for (size_t i = 0; i < sizeof(phone_bad) / sizeof(phone_bad[0]); i++)
    if (schema_phone_valid(phone_bad[i], strlen(phone_bad[i]))) fail_msg("accepted '%s'", phone_bad[i]);
  assert_false(schema_phone_valid("12\0" "34", 5));

  const char *period_good[] = {"1994", "1994-2001", "2001-2001", "2019-", "1800", "2100", "1800-2100"};
  const char *period_bad[] = {"", "1799", "2101", "2001-1994", "94", "1994-01", "1994/2001",
                              "-1994", "19945", "1994--", "199a", "1994-2101", "1994 ", " 1994",
                              "1994-2001-"};
  for (size_t i = 0; i < sizeof(period_good) / sizeof(period_good[0]); i++)
    if (!schema_period_valid(period_good[i], strlen(period_good[i]))) fail_msg("refused %s", period_good[i]);
  for (size_t i = 0; i < sizeof(period_bad) / sizeof(period_bad[0]); i++)
    if (schema_period_valid(period_bad[i], strlen(period_bad[i]))) fail_msg("accepted '%s'", period_bad[i]);

  schema_error why;
  int rc = try_with(REC_ORG, org_good, "email", (kv){NULL, V_STR, "info at example.org", 0, NULL, 0}, &why);
  ASSERT_SCHEMA(rc, why, "email");
  rc = try_with(REC_ORG, org_good, "phone", (kv){NULL, V_STR, "ask us", 0, NULL, 0}, &why);
  ASSERT_SCHEMA(rc, why, "phone");
  rc = try_with(REC_PRACTICE, practice_good, "period", (kv){NULL, V_STR, "2019-2015", 0, NULL, 0}, &why);
  ASSERT_SCHEMA(rc, why, "period");
  ASSERT_OK(try_with(REC_PRACTICE, practice_good, "period", (kv){NULL, V_STR, "2019-", 0, NULL, 0}, &why), why);
}

static void test_addr(void **state) {
  (void)state;
  const char *good[] = {"example.org:7777", "hub:1", "localhost:65535", "10.0.0.1:7777",
                        "[::1]:7777", "[2001:db8::1]:443", "[::ffff:10.0.0.1]:1",
                        "a-b.example:80", "0.0.0.0:9"};
  const char *bad[] = {"", "example.org", "example.org:0", "example.org:65536", ":7777",
                       "::1:7777", "[::1]", "[::1]:", "[fe80::1%eth0]:7777", "1.2.3.256:80",
                       "01.2.3.4:80", "1.2.3:80", "ex ample:80", "b\u00fccher.example:80",
                       "example.org:07", "-a.org:1", "[zz::1]:1", "example.org:80:80",
                       "[::1]x:1", "example..org:1", "example.org.:1", "a_b:1",
                       "https://example.org:1"};
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
    if (!schema_addr_valid(good[i], strlen(good[i]))) fail_msg("refused %s", good[i]);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    if (schema_addr_valid(bad[i], strlen(bad[i]))) fail_msg("accepted '%s'", bad[i]);
  char label[80];
  memset(label, 'a', 64);
  strcpy(label + 64, ".org:1");
  assert_false(schema_addr_valid(label, strlen(label))); /* a label is 63 at most */
  assert_true(schema_addr_valid(label + 1, strlen(label + 1)));

  schema_error why;
  static const char *const nine[] = {"a.example:1", "a.example:2", "a.example:3", "a.example:4",
    "a.example:5", "a.example:6", "a.example:7", "a.example:8", "a.example:9", NULL};
  int rc = try_with(REC_PEER, peer_good, "addrs", (kv){NULL, V_STRS, NULL, 0, nine, 0}, &why);
  ASSERT_SCHEMA(rc, why, "addrs");
  assert_string_equal(why.msg, "too many items (9, at most 8)");
  ASSERT_OK(try_with(REC_PEER, peer_good, "addrs", (kv){NULL, V_STRS, NULL, 0, nine + 1, 0}, &why), why);
  static const char *const badaddr[] = {"a.example:1", "a.example", NULL};
  rc = try_with(REC_PEER, peer_good, "addrs", (kv){NULL, V_STRS, NULL, 0, badaddr, 0}, &why);
  ASSERT_SCHEMA(rc, why, "addrs");
  ASSERT_MSG_HAS(why, "item 2: not host:port");
}

/* ---- structure ------------------------------------------------------------ */

static void test_duplicates(void **state) {
  (void)state;
  schema_error why;
  const kv again[] = {{"name", V_STR, "Other name", 0, NULL, 0}, {0}};
  int rc = try(REC_ORG, org_good, NULL, again, &why);
  ASSERT_SCHEMA(rc, why, "name");
  ASSERT_MSG_HAS(why, "twice");
  const kv same[] = {{"name", V_STR, "Migrant Forum in Asia", 0, NULL, 0}, {0}};
  rc = try(REC_ORG, org_good, NULL, same, &why);
  ASSERT_SCHEMA(rc, why, "name");
  const kv unknown2[] = {{"x-new", V_INT, NULL, 1, NULL, 0}, {"x-new", V_INT, NULL, 2, NULL, 0}, {0}};
  rc = try(REC_ORG, org_good, NULL, unknown2, &why);
  ASSERT_SCHEMA(rc, why, "x-new");

  static const char *const twice[] = {"gender", "climate", "gender", NULL};
  rc = try_with(REC_ORG, org_good, "themes", (kv){NULL, V_STRS, NULL, 0, twice, 0}, &why);
  ASSERT_SCHEMA(rc, why, "themes");
  assert_string_equal(why.msg, "item 3: repeats item 1");
  /* two equal references: a bin list whose items all have the same fill */
  buf b;
  b_init(&b);
  msgpack_pack_map(&b.pk, 1);
  pack_str(&b.pk, "orgs");
  msgpack_pack_array(&b.pk, 2);
  pack_binfill(&b.pk, 48, 7);
  pack_binfill(&b.pk, 48, 7);
  rc = check_buf(REC_PRACTICE, &b, &why);
  ASSERT_SCHEMA(rc, why, "orgs");
  static const char *const addrs2[] = {"a.example:1", "a.example:1", NULL};
  rc = try_with(REC_PEER, peer_good, "addrs", (kv){NULL, V_STRS, NULL, 0, addrs2, 0}, &why);
  ASSERT_SCHEMA(rc, why, "addrs");
}

static void test_contact_consent(void **state) {
  (void)state;
  schema_error why;
  int rc = try(REC_ACTOR, actor_good, "consent", NULL, &why);
  ASSERT_SCHEMA(rc, why, "contact");
  ASSERT_MSG_HAS(why, "consent");
  rc = try_with(REC_ACTOR, actor_good, "consent", (kv){NULL, V_BOOL, NULL, 0, NULL, 0}, &why);
  ASSERT_SCHEMA(rc, why, "contact");
  ASSERT_OK(try_with(REC_ACTOR, actor_good, "consent", (kv){NULL, V_BOOL, NULL, 1, NULL, 0}, &why), why);
  ASSERT_OK(try(REC_ACTOR, actor_good, "contact", NULL, &why), why);
  const kv no_contact[] = {{"consent", V_BOOL, NULL, 0, NULL, 0}, {0}};
  ASSERT_OK(try(REC_ACTOR, actor_min, NULL, no_contact, &why), why);
  /* consent after contact in the map counts as well */
  const kv order[] = {{"contact", V_STR, "x", 0, NULL, 0}, {"consent", V_BOOL, NULL, 1, NULL, 0}, {0}};
  ASSERT_OK(try(REC_ACTOR, actor_min, NULL, order, &why), why);
  /* an org is no person: its contacts need no consent field */
  ASSERT_OK(try(REC_ORG, org_good, NULL, NULL, &why), why);
}

static void test_body_shape(void **state) {
  (void)state;
  schema_error why;
  buf b;
  int rc;

  b_init(&b); /* an array */
  msgpack_pack_array(&b.pk, 1);
  pack_str(&b.pk, "name");
  rc = check_buf(REC_ORG, &b, &why);
  ASSERT_SCHEMA(rc, why, "");
  ASSERT_MSG_HAS(why, "not a map");
  b_init(&b); /* a string */
  pack_str(&b.pk, "org");
  ASSERT_SCHEMA(check_buf(REC_ORG, &b, &why), why, "");
  b_init(&b); /* nil */
  msgpack_pack_nil(&b.pk);
  ASSERT_SCHEMA(check_buf(REC_PEER, &b, &why), why, "");

  const uint8_t empty = 0;
  assert_int_equal(schema_check(REC_ORG, &empty, 0, &why), STOA_ETRUNCATED);
  assert_int_equal(schema_check(REC_ORG, NULL, 0, &why), STOA_EINVAL);
  assert_int_equal(schema_check(0, &empty, 0, &why), STOA_EKIND);
  assert_int_equal(schema_check(REC_PEER + 1, &empty, 0, &why), STOA_EKIND);

  build(&b, org_good, NULL, NULL); /* trailing bytes */
  msgpack_pack_nil(&b.pk);
  assert_int_equal(check_buf(REC_ORG, &b, &why), STOA_ETRAILING);
  build(&b, org_good, NULL, NULL); /* truncated */
  b.sb.size -= 1;
  assert_int_equal(check_buf(REC_ORG, &b, &why), STOA_ETRUNCATED);

  /* keys are strings */
  b_init(&b);
  msgpack_pack_map(&b.pk, 4);
  for (size_t i = 0; i < 3; i++) pack_kv(&b, &org_min[i]);
  msgpack_pack_int(&b.pk, 1);
  pack_str(&b.pk, "x");
  rc = check_buf(REC_ORG, &b, &why);
  ASSERT_SCHEMA(rc, why, "");
  ASSERT_MSG_HAS(why, "not a string");
  b_init(&b);
  msgpack_pack_map(&b.pk, 4);
  pack_binfill(&b.pk, 4, 'n');
  pack_str(&b.pk, "x");
  for (size_t i = 0; i < 3; i++) pack_kv(&b, &org_min[i]);
  ASSERT_SCHEMA(check_buf(REC_ORG, &b, &why), why, "");

  /* at most SCHEMA_MAX_FIELDS fields, unknown ones included */
  for (int extra = SCHEMA_MAX_FIELDS - 3; extra <= SCHEMA_MAX_FIELDS - 2; extra++) {
    b_init(&b);
    msgpack_pack_map(&b.pk, (size_t)(3 + extra));
    for (size_t i = 0; i < 3; i++) pack_kv(&b, &org_min[i]);
    for (int i = 0; i < extra; i++) {
      char k[16];
      snprintf(k, sizeof(k), "x-%d", i);
      pack_str(&b.pk, k);
      msgpack_pack_int(&b.pk, i);
    }
    rc = check_buf(REC_ORG, &b, &why);
    if (3 + extra <= SCHEMA_MAX_FIELDS) ASSERT_OK(rc, why);
    else {
      ASSERT_SCHEMA(rc, why, "");
      ASSERT_MSG_HAS(why, "too many fields");
    }
  }
}

static void test_utf8_ext_depth(void **state) {
  (void)state;
  schema_error why;
  const char *bad[] = {"\xff", "ab\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(try_with(REC_ORG, org_good, "name", (kv){NULL, V_STR, bad[i], 0, NULL, 0}, &why),
                     STOA_EUTF8);
    assert_true(strlen(why.msg) > 0);
    const kv unk[] = {{"x-note", V_STR, bad[i], 0, NULL, 0}, {0}};
    assert_int_equal(try(REC_ORG, org_good, NULL, unk, &why), STOA_EUTF8);
  }
  /* an ext value, even in an unknown field */
  const kv ext[] = {{"x-ext", V_RAW, "\xd4\x01\x00", 0, NULL, 3}, {0}};
  assert_int_equal(try(REC_ORG, org_good, NULL, ext, &why), STOA_EEXT);
  /* nesting: the body map is level 1, so 7 more arrays are fine, 8 are not */
  const kv deep_ok[] = {{"x-deep", V_RAW, "\x91\x91\x91\x91\x91\x91\x90", 0, NULL, 7}, {0}};
  ASSERT_OK(try(REC_ORG, org_good, NULL, deep_ok, &why), why);
  const kv deep[] = {{"x-deep", V_RAW, "\x91\x91\x91\x91\x91\x91\x91\x90", 0, NULL, 8}, {0}};
  assert_int_equal(try(REC_ORG, org_good, NULL, deep, &why), STOA_ETOODEEP);
}

static void test_unknown_fields_kept(void **state) {
  (void)state;
  schema_error why;
  /* a newer version's fields: any type, any nesting within limits */
  const kv unk[] = {
    {"x-future", V_RAW, "\x81\xa1" "a\x93\x01\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00\xc0", 0, NULL, 15},
    {"", V_NIL, NULL, 0, NULL, 0},
    {"Name", V_INT, NULL, 3, NULL, 0}, /* keys are case-sensitive */
    {0},
  };
  for (int k = REC_ORG; k <= REC_PEER; k++) ASSERT_OK(try(k, good_of(k), NULL, unk, &why), why);
  /* a practice's field is unknown to an org, whatever its value */
  const kv title[] = {{"title", V_INT, NULL, 3, NULL, 0}, {0}};
  ASSERT_OK(try(REC_ORG, org_good, NULL, title, &why), why);
}

static void test_messages_are_safe(void **state) {
  (void)state;
  schema_error why;
  const kv esc[] = {{"\x1b[2J\x1b]0;pwned\x07", V_INT, NULL, 1, NULL, 0},
                    {"\x1b[2J\x1b]0;pwned\x07", V_INT, NULL, 2, NULL, 0}, {0}};
  int rc = try(REC_ORG, org_good, NULL, esc, &why);
  assert_int_equal(rc, STOA_ESCHEMA);
  for (const char *p = why.field; *p; p++) assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
  assert_non_null(memchr(why.field, '\0', sizeof(why.field)));
  /* a long key is cut on a character boundary too */
  char cjkkey[3 * 30 + 1] = {0};
  for (int i = 0; i < 30; i++) memcpy(cjkkey + 3 * i, "\xe7\xa7\xbb", 3);
  const kv dupkey[] = {{cjkkey, V_INT, NULL, 1, NULL, 0}, {cjkkey, V_INT, NULL, 2, NULL, 0}, {0}};
  assert_int_equal(try(REC_ORG, org_good, NULL, dupkey, &why), STOA_ESCHEMA);
  assert_true(mp_utf8_valid((const uint8_t *)why.field, strlen(why.field)));
  assert_non_null(strstr(why.field, "..."));
  char longv[300];
  memset(longv, 'Q', sizeof(longv) - 1);
  longv[sizeof(longv) - 1] = '\0';
  memcpy(longv, "\x1b[31m", 5);
  rc = try_with(REC_ORG, org_good, "website", (kv){NULL, V_STR, longv, 0, NULL, 0}, &why);
  ASSERT_SCHEMA(rc, why, "website");
  assert_non_null(memchr(why.msg, '\0', sizeof(why.msg)));
  for (const char *p = why.msg; *p; p++) assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
  ASSERT_MSG_HAS(why, "...");
  /* cut on a character boundary: a run of 3-byte characters */
  char cjk[3 * 60 + 1] = {0};
  for (int i = 0; i < 60; i++) memcpy(cjk + 3 * i, "\xe7\xa7\xbb", 3);
  rc = try_with(REC_ORG, org_good, "email", (kv){NULL, V_STR, cjk, 0, NULL, 0}, &why);
  ASSERT_SCHEMA(rc, why, "email");
  const char *q = strchr(why.msg, '"');
  assert_non_null(q);
  const char *end = strstr(q, "...");
  assert_non_null(end);
  assert_int_equal((end - (q + 1)) % 3, 0);
}

/* Hostile bytes: every truncation and many one-byte changes of valid bodies
 * give 0 or an error code, with *why a pair of terminated strings; the
 * sanitizers watch the reads. */
static void test_mutations(void **state) {
  (void)state;
  static const uint8_t vals[] = {0x00, 0x7f, 0x80, 0x90, 0xa0, 0xc0, 0xc1, 0xc4, 0xd4,
                                 0xd9, 0xdc, 0xde, 0xdf, 0xff};
  schema_error why;
  for (int k = REC_ORG; k <= REC_PEER; k++) {
    buf b;
    build(&b, good_of(k), NULL, NULL);
    uint8_t *body = (uint8_t *)b.sb.data;
    size_t n = b.sb.size;
    for (size_t len = 0; len < n; len++) {
      int rc = schema_check(k, body, len, &why);
      assert_true(rc < 0);
    }
    for (size_t i = 0; i < n; i++) {
      uint8_t orig = body[i];
      for (size_t v = 0; v < sizeof(vals); v++) {
        body[i] = vals[v];
        int rc = schema_check(k, body, n, &why);
        assert_true(rc <= 0 && (rc == 0 || rc > STOA__ERR_BASE));
        assert_non_null(memchr(why.field, '\0', sizeof(why.field)));
        assert_non_null(memchr(why.msg, '\0', sizeof(why.msg)));
      }
      body[i] = orig;
    }
    msgpack_sbuffer_destroy(&b.sb);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_valid_bodies),
    cmocka_unit_test(test_tables_match_spec),
    cmocka_unit_test(test_vocabularies),
    cmocka_unit_test(test_open_vocabularies),
    cmocka_unit_test(test_missing_required),
    cmocka_unit_test(test_wrong_types),
    cmocka_unit_test(test_lengths),
    cmocka_unit_test(test_text_rules),
    cmocka_unit_test(test_integers_refs_keys),
    cmocka_unit_test(test_country),
    cmocka_unit_test(test_lang),
    cmocka_unit_test(test_url),
    cmocka_unit_test(test_email_phone_period),
    cmocka_unit_test(test_addr),
    cmocka_unit_test(test_duplicates),
    cmocka_unit_test(test_contact_consent),
    cmocka_unit_test(test_body_shape),
    cmocka_unit_test(test_utf8_ext_depth),
    cmocka_unit_test(test_unknown_fields_kept),
    cmocka_unit_test(test_messages_are_safe),
    cmocka_unit_test(test_mutations),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
