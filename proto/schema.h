/*
 * schema.h - body schemas of every record kind, and the vocabularies.
 *
 * A body is a msgpack map with string keys.  The fields each kind knows are
 * described by a table that the validator, the store's indexes (which fields
 * are text, countries, themes, references) and the CLI (options, JSON, CSV)
 * all read, so a field is defined once.  Unknown fields are allowed and kept:
 * a newer node's records pass through an older one intact.
 * See docs/schemas.md for the tables in prose.
 */
#ifndef STOA_SCHEMA_H
#define STOA_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/record.h"

enum sf_type {
  SF_STR = 1,  /* UTF-8 text, 1..max bytes, no control chars but \n \t */
  SF_INT,      /* integer in [min, maxv] */
  SF_BOOL,
  SF_ENUM,     /* one of vocab[] (with SFF_OPEN, or any slug) */
  SF_COUNTRY,  /* ISO 3166-1 alpha-2, upper case */
  SF_LANG,     /* BCP 47 language tag (shape, RFC 5646) */
  SF_THEME,    /* one of schema_themes[] (with SFF_OPEN, or any slug) */
  SF_URL,      /* http:// or https:// URL, shape only */
  SF_EMAIL,    /* local@domain, shape only */
  SF_PHONE,    /* digits, spaces and + - ( ) . / */
  SF_PERIOD,   /* "YYYY", "YYYY-YYYY" or "YYYY-" */
  SF_REF,      /* entry reference: bin of EKEY_LEN bytes (owner || id) */
  SF_KEY,      /* public key: bin of KEY_LEN bytes */
  SF_TS,       /* ms since the epoch, unsigned */
  SF_ADDR,     /* "host:port" */
};

enum {
  SFF_REQUIRED = 1 << 0, /* must be present (a list: with at least one item) */
  SFF_LIST = 1 << 1,     /* a msgpack array of the type, items unique */
  SFF_TEXT = 1 << 2,     /* goes into the full-text index */
  SFF_TITLE = 1 << 3,    /* the entry's display name */
  /* SF_ENUM / SF_THEME whose vocabulary may grow in a later version:
   * schema_check takes any slug (schema_slug_valid) there, so that a record
   * with a newer version's value is carried, not refused by every older
   * node.  What a user types is still held to the vocabulary (cli/body.c).
   * Never on a field trust depends on (the role of endorse/revoke). */
  SFF_OPEN = 1 << 4,
};

/* Most fields (known and unknown) a body may have: bounds the work of the
 * duplicate-key check without allocating. */
#define SCHEMA_MAX_FIELDS 64

typedef struct schema_field {
  const char *name;           /* msgpack key and CLI option (--name) */
  uint8_t type;               /* enum sf_type */
  uint8_t flags;              /* SFF_* */
  uint32_t max;               /* max bytes (strings) or max items (lists) */
  int64_t min, maxv;          /* SF_INT bounds */
  const char *const *vocab;   /* SF_ENUM: NULL-terminated */
  const char *help;           /* one line for --help */
} schema_field;

typedef struct schema_error {
  char field[40];             /* field name, or "" for the body as a whole */
  char msg[160];              /* what is wrong, for a person */
} schema_error;

/* The fields of `kind` (NULL, *n = 0 for an unknown kind). Static. */
const schema_field *schema_fields(int kind, size_t *n);
/* The field named [name, name+len) of `kind`, or NULL. */
const schema_field *schema_field_find(int kind, const char *name, size_t len);

/*
 * Checks a body: a map with string keys, no duplicate keys, every known
 * field of the right type and within its limits, required fields present,
 * cross-field rules (an actor's contact only with consent = true).  In an
 * SFF_OPEN field a value outside the vocabulary passes when it is a slug.
 * Returns 0 or STOA_ESCHEMA (why filled, if not NULL) or a decoding error.
 */
int schema_check(int kind, const uint8_t *body, size_t len, schema_error *why);

/*
 * Value checks, usable on user input before a body is built.  Each takes
 * [s, s+n) (not NUL-terminated; a NUL byte makes it invalid), checks shape
 * only, and returns true when valid.  country: the 249 assigned ISO 3166-1
 * alpha-2 codes and XK, upper case.  lang: RFC 5646 syntax, any case, at
 * most 35 bytes.  url: http(s)://host[:port][/?#...], host with a dot or
 * "localhost".  email: at most 254 bytes, local part 1..64.  phone: at most
 * 40 bytes, 4 digits or more.  period: years 1800..2100.  addr: at most 255
 * bytes, host:port, port 1..65535 without leading zeros.  enum: exact,
 * case-sensitive member of the NULL-terminated vocab (the strict check).
 * slug: the shape a vocabulary value of a later version may take, 1..32
 * bytes of a-z, 0-9 and '-', starting with a letter.
 */
bool schema_country_valid(const char *s, size_t n);
bool schema_lang_valid(const char *s, size_t n);
bool schema_theme_valid(const char *s, size_t n);
bool schema_url_valid(const char *s, size_t n);
bool schema_email_valid(const char *s, size_t n);
bool schema_phone_valid(const char *s, size_t n);
bool schema_period_valid(const char *s, size_t n);
bool schema_addr_valid(const char *s, size_t n);
bool schema_enum_valid(const char *const *vocab, const char *s, size_t n);
bool schema_slug_valid(const char *s, size_t n);

/* Longest slug schema_slug_valid takes. */
#define SCHEMA_SLUG_MAX 32

/* Vocabularies, NULL-terminated. */
extern const char *const schema_themes[];
extern const char *const schema_org_types[];
extern const char *const schema_roles[];          /* endorse/revoke: member, editor, node */
extern const char *const schema_practice_status[];

#endif
