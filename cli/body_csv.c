/*
 * body_csv.c - record bodies to and from CSV, RFC 4180 (see body.h).
 *
 * The reader is a one-pass state machine over stdio bytes that reads rows
 * in place into a caller-allocated row; the writer guards cells against
 * spreadsheet formulas.  Converting cells to and from field values is the
 * text form of body.c, reached through body_from_kv and the helpers of
 * body_int.h.
 */
#include "cli/body.h"
#include "cli/body_int.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "proto/err.h"
#include "proto/mp.h"

void body_csv_reader_init(body_csv_reader *rd, FILE *f) {
  rd->f = f;
  rd->line = 1;
  rd->started = false;
  rd->sep = 0;
  rd->utf16 = false;
  rd->npend = 0;
}

/* Bytes looked ahead are kept in rd->pend as a stack (last in, first out),
 * because stdio promises only one ungetc and a BOM check needs three. */
static int body__csv_get(body_csv_reader *rd) {
  if (rd->npend > 0) return rd->pend[--rd->npend];
  return getc(rd->f);
}

static void body__csv_unget(body_csv_reader *rd, int c) {
  if (c != EOF && rd->npend < (int)sizeof rd->pend)
    rd->pend[rd->npend++] = (unsigned char)c;
}

/* Drops a UTF-8 BOM at the start of the file, pushing back what was not;
 * notes a UTF-16 one (a spreadsheet's "Unicode text"), which the caller
 * refuses with advice. */
static void body__csv_bom(body_csv_reader *rd) {
  static const unsigned char bom[3] = {0xef, 0xbb, 0xbf};
  int got[3], k = 0;
  while (k < 3) {
    got[k] = getc(rd->f);
    k++;
    if (got[k - 1] != bom[k - 1]) break;
  }
  if (k == 3 && got[2] == bom[2]) return;
  if (k == 1 && (got[0] == 0xff || got[0] == 0xfe)) {
    int d = getc(rd->f);
    rd->utf16 = d == (got[0] == 0xff ? 0xfe : 0xff);
    body__csv_unget(rd, d);
  }
  while (k > 0) body__csv_unget(rd, got[--k]);
}

/* Whether c separates fields.  The file's separator is the first comma,
 * semicolon or tab met outside quotes: the header row's, since field names
 * hold none of them (a spreadsheet set to French or German writes `;`). */
static bool body__csv_sep(body_csv_reader *rd, int c) {
  if (rd->sep) return c == rd->sep;
  if (c != ',' && c != ';' && c != '\t') return false;
  rd->sep = (char)c;
  return true;
}

/* Ends column row->n - 1 at buf[*used].  The limits keep *used inside buf
 * (data <= BODY_CSV_MAX_ROW, one NUL per column); the check is a backstop. */
static void body__csv_end_col(body_csv_row *row, size_t start, size_t *used) {
  if (row->n == 0 || row->n > BODY_CSV_MAX_COLS) return;
  if (*used >= sizeof row->buf) {
    row->col[row->n - 1] = "";
    row->len[row->n - 1] = 0;
    return;
  }
  row->buf[*used] = '\0';
  row->col[row->n - 1] = row->buf + start;
  row->len[row->n - 1] = *used - start;
  (*used)++;
}

/* A CR ends a line alone or with the LF after it. */
static void body__csv_crlf(body_csv_reader *rd) {
  int d = body__csv_get(rd);
  if (d != '\n') body__csv_unget(rd, d);
}

/*
 * A state machine over bytes, one pass.  Once a row is over a limit it stops
 * storing but reads on to the row's end, so that the caller may report the
 * row and carry on with the next.  S_CLOSED is "a quote inside quotes": the
 * end of the field or the first of a doubled quote.
 */
int body_csv_read_row(body_csv_reader *rd, body_csv_row *row) {
  enum { S_START, S_PLAIN, S_QUOTED, S_CLOSED } st = S_START;
  size_t used = 0, raw = 0, start = 0;
  bool over = false;
  int r = 0, c;

  if (!rd->started) {
    body__csv_bom(rd);
    rd->started = true;
  }
  row->n = 0;
  for (;;) { /* blank lines */
    c = body__csv_get(rd);
    row->line = rd->line;
    if (c == EOF) return ferror(rd->f) ? -EIO : 0;
    if (c == '\r') body__csv_crlf(rd);
    else if (c != '\n') break;
    rd->line++;
  }
  body__csv_unget(rd, c);
  row->n = 1;

  for (;;) {
    c = body__csv_get(rd);
    if (c != EOF && ++raw > BODY_CSV_MAX_ROW) over = true;
    if (c == 0 && r == 0) r = STOA_EMALFORMED;
    bool eol = c == '\n' || c == '\r' || c == EOF;
    if (st == S_START) {
      if (c == '"') {
        st = S_QUOTED;
        continue;
      }
      st = S_PLAIN;
    }
    switch (st) {
    case S_START:
    case S_PLAIN:
    case S_CLOSED:
      if (st == S_CLOSED && c == '"') { /* a doubled quote: one quote */
        st = S_QUOTED;
        break;
      }
      if (eol || body__csv_sep(rd, c)) {
        body__csv_end_col(row, start, &used);
        if (eol) goto row_end;
        if (row->n == BODY_CSV_MAX_COLS) over = true;
        if (row->n <= BODY_CSV_MAX_COLS) row->n++;
        start = used;
        st = S_START;
        continue;
      }
      if (st == S_CLOSED && r == 0) r = STOA_EMALFORMED; /* text after a closing quote */
      st = S_PLAIN;
      break;
    case S_QUOTED:
      if (c == EOF) {
        if (r == 0) r = STOA_EMALFORMED; /* a quote left open */
        body__csv_end_col(row, start, &used);
        goto row_end;
      }
      if (c == '"') {
        st = S_CLOSED;
        continue;
      }
      if (c == '\r') {
        int d = body__csv_get(rd);
        if (d == '\n') c = '\n';
        else body__csv_unget(rd, d);
      }
      if (c == '\n' || c == '\r') rd->line++;
      break;
    }
    if (!over && used + 1 < sizeof row->buf) row->buf[used++] = (char)c;
  }
row_end:
  if (c == '\r') body__csv_crlf(rd);
  if (c != EOF) rd->line++;
  if (ferror(rd->f)) return -EIO;
  if (row->n > BODY_CSV_MAX_COLS) row->n = BODY_CSV_MAX_COLS;
  if (over) return STOA_ETOOBIG;
  return r ? r : 1;
}

/*
 * Spreadsheet formula injection (OWASP "CSV Injection"): a cell starting
 * with = + - @ TAB or CR may run as a formula when the file is opened, so
 * the writer puts a single quote before it; a cell made of quotes and then
 * such a character gets one more quote, so that the reader, which takes one
 * quote off a cell of that shape, gives back every value as it was.  A cell
 * starting with a quote followed by anything else ("'s-Hertogenbosch") is
 * left alone both ways.  Returns the number of leading quotes when the cell
 * has that shape, -1 when not.
 */
static bool body__csv_formula_char(char c) {
  return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
}

static long body__csv_guarded(const char *s, size_t n) {
  size_t k = 0;
  while (k < n && s[k] == '\'') k++;
  return k < n && body__csv_formula_char(s[k]) ? (long)k : -1;
}

int body_csv_write_field(FILE *f, const char *s, size_t n, char sep, bool last) {
  bool guard = body__csv_guarded(s, n) >= 0;
  bool quote = n > 0 && (s[0] == ' ' || s[n - 1] == ' ');
  if (!sep) sep = ',';
  for (size_t i = 0; i < n && !quote; i++)
    quote = s[i] == sep || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
  if (!quote) {
    if (guard) putc('\'', f);
    fwrite(s, 1, n, f);
  } else {
    putc('"', f);
    if (guard) putc('\'', f);
    for (size_t i = 0; i < n;) {
      const char *q = memchr(s + i, '"', n - i);
      size_t w = q ? (size_t)(q - (s + i)) + 1 : n - i;
      fwrite(s + i, 1, w, f);
      if (q) putc('"', f); /* the quote just written, doubled */
      i += w;
    }
    putc('"', f);
  }
  if (last) fputs("\r\n", f);
  else putc(sep, f);
  return ferror(f) ? -EIO : 0;
}

int body_csv_write_header(FILE *f, int kind, char sep) {
  size_t nf;
  const schema_field *fs = schema_fields(kind, &nf);
  int r;
  if (!fs || nf == 0) return STOA_EKIND;
  if ((r = body_csv_write_field(f, "id", 2, sep, false))) return r;
  for (size_t j = 0; j < nf; j++)
    if ((r = body_csv_write_field(f, fs[j].name, strlen(fs[j].name), sep, j + 1 == nf)))
      return r;
  return 0;
}

/* Appends the text form of one item of field f; 1 when the bytes are not of
 * the field's type (the cell is then left blank). */
static int body__csv_item(const schema_field *f, mp_reader *r, msgpack_sbuffer *sb,
                          const body_formatter *fmt) {
  body_item it;
  if (body__item(f, r, fmt, &it)) return 1;
  switch (it.kind) {
  case BI_INT: snprintf(it.text, sizeof it.text, "%" PRId64, it.i); break;
  case BI_BOOL: snprintf(it.text, sizeof it.text, "%s", it.b ? "true" : "false"); break;
  case BI_STR: return body__write(sb, it.s, it.n);
  default: break;
  }
  return body__write(sb, it.text, strlen(it.text));
}

static int body__csv_cell(const schema_field *f, const uint8_t *v, size_t vn,
                          msgpack_sbuffer *sb, const body_formatter *fmt) {
  mp_reader r;
  uint32_t n;
  int e;
  mp_reader_init(&r, v, vn);
  if (!(f->flags & SFF_LIST)) return body__csv_item(f, &r, sb, fmt);
  if (mp_read_array(&r, &n)) return 1;
  for (uint32_t k = 0; k < n; k++) {
    if (k && (e = body__write(sb, ";", 1))) return e;
    if ((e = body__csv_item(f, &r, sb, fmt))) return e;
  }
  return 0;
}

int body_csv_write_row(FILE *f, int kind, const char *id, const uint8_t *body,
                       size_t len, const body_formatter *fmt) {
  size_t nf, kn, vn;
  const schema_field *fs = schema_fields(kind, &nf);
  const uint8_t *kraw, *vraw;
  msgpack_sbuffer sb;
  mp_reader rd;
  uint32_t n;
  int r;

  if (!fs || nf == 0) return STOA_EKIND;
  if ((r = body__open(body, len, &rd, &n))) return r;
  char sep = fmt ? fmt->sep : 0;
  if ((r = body_csv_write_field(f, id ? id : "", id ? strlen(id) : 0, sep, false))) return r;
  msgpack_sbuffer_init(&sb);
  for (size_t j = 0; j < nf; j++) {
    sb.size = 0;
    if (body__find_at(rd, n, fs[j].name, strlen(fs[j].name), &kraw, &kn, &vraw, &vn)) {
      r = body__csv_cell(&fs[j], vraw, vn, &sb, fmt);
      if (r < 0) goto out;
      if (r > 0) sb.size = 0;
    }
    if ((r = body_csv_write_field(f, sb.size ? sb.data : "", sb.size, sep, j + 1 == nf)))
      goto out;
  }
out:
  msgpack_sbuffer_destroy(&sb);
  return r;
}

int body_csv_kv(const body_csv_row *hdr, const body_csv_row *row, body_kv *kv,
                size_t *n, const char **id, body_error *err) {
  *n = 0;
  *id = "";
  for (size_t i = 0; i < row->n; i++) {
    if (body__blank(row->col[i], row->len[i])) continue;
    if (i >= hdr->n)
      return body__fail(err, "", STOA_EMALFORMED,
                        "line %lu: cell %zu has no column in the header", row->line, i + 1);
    /* One quote off a cell the writer guarded against formulas. */
    const char *v = row->col[i] + (body__csv_guarded(row->col[i], row->len[i]) > 0);
    if (strcmp(hdr->col[i], "id") == 0) {
      *id = v;
      continue;
    }
    kv[*n].field = hdr->col[i];
    kv[*n].value = v;
    (*n)++;
  }
  return 0;
}
