/*
 * body.h - record bodies to and from what people type: command-line options,
 * CSV cells and JSON.
 *
 * Everything is driven by the field table of proto/schema.h, so a field
 * added there is at once an option, a JSON member and a CSV column.  Values
 * are checked with the schema_*_valid helpers while they are converted, so
 * an error names the field and the value as the user wrote it; the body as a
 * whole (required fields, cross-field rules) is still the caller's to check
 * with schema_check() before it signs.
 *
 * Text forms, shared by options, CSV and JSON strings:
 *   str              as is (lists: items trimmed)
 *   int              strict decimal within the field's bounds
 *   bool             true/false, yes/no, 1/0 (any case)
 *   country          upper-cased, then ISO 3166-1 alpha-2 ("fr" -> "FR")
 *   theme, enum      lower-cased, then the vocabulary
 *   ref              hex prefix of an entry id, resolved by the caller
 *   key              64 hex digits
 *   ts               "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SS[.mmm]Z" or ms
 * A list field takes several values, and any value of a list field may hold
 * several items separated by ';' ("--theme gender;climate", a CSV cell).  So
 * an item of a list cannot itself contain ';' in this form (JSON arrays can).
 * Empty values are skipped, like blank CSV cells.
 *
 * All functions that build a body append it to a caller-initialised
 * msgpack_sbuffer only on success; on failure they append nothing.
 */
#ifndef STOA_CLI_BODY_H
#define STOA_CLI_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <msgpack.h>

#include "proto/record.h"
#include "proto/schema.h"

/* The field a conversion failed on ("" for the body as a whole) and why, for
 * a person.  The same shape as schema_check's, so one printer serves both. */
typedef schema_error body_error;

/* One "--field value" or one CSV cell under its header.  A NULL or empty
 * value is skipped. */
typedef struct body_kv {
  const char *field;
  const char *value;
} body_kv;

/* Turns the text of a reference (a hex prefix of an entry id, lower case,
 * NUL-terminated) into an entry key (owner || id).  Returns 0,
 * STOA_ENOTFOUND or STOA_EAMBIGUOUS (or any other negative code, passed on).
 * The full 96 hex digits of an entry key are taken as they are, without a
 * look-up (the entry may not have reached this node yet); with no resolver,
 * nothing shorter is accepted. */
typedef struct body_resolver {
  int (*resolve)(void *ctx, const char *text, uint8_t out[EKEY_LEN]);
  void *ctx;
} body_resolver;

/* Writes a reference as text for a person (at most cap bytes with the NUL).
 * With no formatter, the 32 hex digits of the id (bytes 32..47). */
typedef struct body_formatter {
  void (*ref)(void *ctx, const uint8_t ekey[EKEY_LEN], char *out, size_t cap);
  void *ctx;
  char sep; /* CSV: the field separator, ',' (or 0), ';' or '\t' */
} body_formatter;

/*
 * Builds the body of a `kind` record from field/value pairs, keys in the
 * order of the schema table.  A list field given several times, or with
 * ';'-separated items, becomes one array (duplicates dropped); any other
 * field given twice is an error.  Unknown field names are an error; in a
 * name, '-' stands for '_' ("member-of" is member_of).
 * Returns 0, STOA_ESCHEMA (err says which field and why), STOA_EKIND,
 * STOA_ENOTFOUND / STOA_EAMBIGUOUS from the resolver, STOA_ETOOBIG,
 * STOA_ENOMEM or STOA_EINVAL.
 */
int body_from_kv(int kind, const body_kv *kv, size_t n, const body_resolver *res,
                 msgpack_sbuffer *out, body_error *err);

/*
 * Builds the body of a `kind` record from a JSON object, such as one entry
 * of `stoa export --json`.  Known fields take a value of their type or its
 * text form (a list: an array, or one string as in body_from_kv).  Unknown
 * members are kept, converted generically, after the known fields in the
 * object's order; top-level "id", "kind", "owner", "signer", "ts", "hash"
 * and "version" are export metadata and skipped unless the kind has such a
 * field.  A null known field is skipped; an unknown one is kept as nil.
 * Same errors as body_from_kv, plus STOA_EUTF8, and STOA_ETOODEEP for
 * nesting deeper than MP_MAX_DEPTH (the body's own map included).
 */
int body_from_json(int kind, const json_t *obj, const body_resolver *res,
                   msgpack_sbuffer *out, body_error *err);

/*
 * A new version of a body: `old` with the fields named in `set` replaced as a
 * whole (a list too) and the fields in `unset` removed.  A field set only to
 * empty values is removed.  Every other field, unknown ones included, is
 * copied byte for byte.  Known fields come out in schema order, then the
 * unknown ones in their old order.  `unset` may name an unknown field that
 * the old body holds; setting and unsetting one field is an error.
 * Returns the errors of body_from_kv, or a decoding error when `old` is not
 * a valid map with string keys.
 */
int body_edit(int kind, const uint8_t *old, size_t oldlen, const body_kv *set,
              size_t nset, const char *const *unset, size_t nunset,
              const body_resolver *res, msgpack_sbuffer *out, body_error *err);

/*
 * The body as a JSON object: references through fmt (NULL: default), keys
 * as 64 hex digits, timestamps as ISO-8601 UTC strings, other known fields
 * as their JSON type.  Unknown fields, and known ones of a type the table
 * does not expect, are converted generically (bin as lower-case hex).
 * Returns a new reference (caller must json_decref), or NULL when the body
 * is not a valid msgpack map with string keys, or out of memory.
 */
json_t *body_to_json(int kind, const uint8_t *body, size_t len,
                     const body_formatter *fmt);

/* CSV, RFC 4180.  A row may not exceed these; the limits keep one hostile
 * line from taking the memory of the machine. */
#define BODY_CSV_MAX_COLS 256
#define BODY_CSV_MAX_ROW (64 * 1024)

/* Reader state for one file: where it is, and the bytes it looked ahead. */
typedef struct body_csv_reader {
  FILE *f;
  unsigned long line;                /* line of the next byte, 1-based */
  bool started;                      /* past the byte-order mark */
  char sep;                          /* ',', ';' or TAB: the first of them
                                      * outside quotes; 0 until seen */
  bool utf16;                        /* the file starts with a UTF-16 BOM */
  int npend;
  unsigned char pend[3];
} body_csv_reader;

/* One row, read in place: col[i] is NUL-terminated, len[i] bytes, pointing
 * into buf; valid until the next read into this row.  About 70 KiB:
 * allocate it once (a header row and a data row may be kept side by side). */
typedef struct body_csv_row {
  size_t n;                          /* columns of this row */
  const char *col[BODY_CSV_MAX_COLS];
  size_t len[BODY_CSV_MAX_COLS];
  unsigned long line;                /* line this row starts on, 1-based */
  char buf[BODY_CSV_MAX_ROW + BODY_CSV_MAX_COLS];
} body_csv_row;

/* Starts reading f from where it is, as the start of a file. */
void body_csv_reader_init(body_csv_reader *rd, FILE *f);

/*
 * Reads the next row: quoted fields with doubled quotes, line breaks inside
 * quotes (a CRLF there is kept as LF), CRLF, LF or CR line ends, a UTF-8 BOM
 * at the start of the file dropped, blank lines skipped.  Fields are
 * separated by the first comma, semicolon or tab of the file outside
 * quotes (rd->sep).  Returns 1 for a row, 0 at the end of the file,
 * STOA_ETOOBIG for a row with more than BODY_CSV_MAX_COLS columns or
 * BODY_CSV_MAX_ROW bytes (the row is consumed, so the next call reads the
 * one after), STOA_EMALFORMED for a quote left open at the end of the
 * file, text after a closing quote or a NUL byte, -EIO on a read error.
 * row->line is set in every case.
 */
int body_csv_read_row(body_csv_reader *rd, body_csv_row *row);

/* Writes one field, quoted when it holds the separator sep (',' when 0),
 * a quote, CR or LF or starts or ends with a space, then sep or, when
 * `last`, CRLF.  Returns 0 or -EIO. */
int body_csv_write_field(FILE *f, const char *s, size_t n, char sep, bool last);

/* Writes the header of a `kind` export: "id", then the schema's field names
 * in table order, separated by sep (',' when 0).  Returns 0, STOA_EKIND or
 * -EIO. */
int body_csv_write_header(FILE *f, int kind, char sep);

/*
 * Writes one row under body_csv_write_header's columns: `id` and each field
 * in its text form (lists joined with ';'), separated by fmt->sep.  Unknown
 * fields have no column and are left out: CSV is for spreadsheets, JSON is
 * the lossless export.
 * Returns 0, STOA_EKIND, a decoding error, STOA_ENOMEM or -EIO.
 */
int body_csv_write_row(FILE *f, int kind, const char *id, const uint8_t *body,
                       size_t len, const body_formatter *fmt);

/*
 * Pairs a data row with its header row for body_from_kv: kv[i] borrows the
 * strings of both rows (valid until the next read of either).  The "id"
 * column is not a field: its cell goes to *id ("" when absent or blank).
 * Blank cells are left out; a row shorter than the header is fine, a
 * non-blank cell beyond the header is STOA_EMALFORMED (err filled).
 * `kv` must have room for BODY_CSV_MAX_COLS pairs.  Returns 0 or the error.
 */
int body_csv_kv(const body_csv_row *hdr, const body_csv_row *row, body_kv *kv,
                size_t *n, const char **id, body_error *err);

#endif
