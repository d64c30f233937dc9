/*
 * body_int.h - private helpers shared by body.c (options, JSON, edits) and
 * body_csv.c (CSV).  Not part of the CLI's interface: only these two files
 * include it.  Defined in body.c unless said otherwise.
 */
#ifndef STOA_CLI_BODY_INT_H
#define STOA_CLI_BODY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "cli/body.h"
#include "proto/err.h"
#include "proto/mp.h"
#include "proto/schema.h"

/* Fills err (when not NULL) with the field, control bytes shown as '?', and
 * the formatted message; returns code. */
int body__fail(body_error *err, const char *field, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Whether s[0..n) holds nothing but spaces, tabs, CR and LF. */
bool body__blank(const char *s, size_t n);

/* Writes n bytes as 2n lower-case hex digits and a NUL: out has 2n+1 bytes. */
void body__hex(char *out, const uint8_t *b, size_t n);

/* Writes ms since the epoch as ISO-8601 UTC (milliseconds only when there are
 * some), or as the plain number beyond year 9999; cut to cap bytes. */
void body__fmt_ts(uint64_t ms, char *out, size_t cap);

/* Writes a reference through fmt, or with none as the 32 hex digits of the
 * id; always NUL-terminated within cap bytes. */
void body__fmt_ref(const body_formatter *fmt, const uint8_t *ekey, char *out,
                   size_t cap);

/* One item of a typed field, read for display: a number, a truth value,
 * text spelled here (a reference through fmt, a key in hex, a time in
 * ISO 8601), or a string borrowed from the body. */
typedef struct body_item {
  enum { BI_INT, BI_BOOL, BI_TEXT, BI_STR } kind;
  int64_t i;
  bool b;
  char text[128];
  const char *s;
  uint32_t n;
} body_item;

/* Reads one item of field f (its element type for a list).  0, or 1 when
 * the bytes are not of the field's type (r may have moved). */
int body__item(const schema_field *f, mp_reader *r, const body_formatter *fmt, body_item *out);

/* Checks that body is one valid map with string keys and leaves r on its
 * first key, *n its size.  Returns 0, STOA_EINVAL or a decoding error. */
int body__open(const uint8_t *body, size_t len, mp_reader *r, uint32_t *n);

/* Finds the first entry named [name, name+nlen) of a map of n entries opened
 * by body__open at m: raw key and value bytes, borrowed from the body. */
bool body__find_at(mp_reader m, uint32_t n, const char *name, size_t nlen,
                   const uint8_t **kraw, size_t *kn, const uint8_t **vraw,
                   size_t *vn);

/* Appends n bytes to sb.  Returns 0 or STOA_ENOMEM. */
static inline int body__write(msgpack_sbuffer *sb, const void *p, size_t n) {
  return msgpack_sbuffer_write(sb, (const char *)p, n) ? STOA_ENOMEM : 0;
}

#endif
