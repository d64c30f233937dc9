/*
 * fuzz_csv.c - `stoa add --from-csv` (cli/cmd_entry.c add_csv): the RFC
 * 4180 reader of cli/body_csv.c, the header check, then every row through
 * body_csv_kv, body_from_kv and schema_check.
 *
 * The first byte picks the kind (org, actor, practice); the rest is the
 * file, read through fmemopen as the CLI reads a FILE.  Every row must be
 * within the reader's limits, every column NUL-terminated inside the row
 * buffer, and every body built is checked by fuzz_body_built.
 */
#include "tests/fuzz/fuzz_body.h"

static body_csv_row fuzz_hdr, fuzz_row;
static body_kv fuzz_kv[BODY_CSV_MAX_COLS];

static void fuzz_row_ok(const body_csv_row *row) {
  FUZZ_CHECK(row->n >= 1 && row->n <= BODY_CSV_MAX_COLS);
  for (size_t i = 0; i < row->n; i++) {
    FUZZ_CHECK(row->col[i] >= row->buf && row->col[i] + row->len[i] < row->buf + sizeof row->buf);
    FUZZ_CHECK(row->col[i][row->len[i]] == '\0' && strlen(row->col[i]) == row->len[i]);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  body_resolver res = { fuzz_resolve, NULL };
  body_csv_reader rd;
  FILE *f;
  int kind, got;

  if (size < 2) return 0; /* fmemopen refuses an empty buffer */
  fuzz_sodium();
  kind = REC_ORG + data[0] % 3;
  if (!(f = fmemopen((void *)(data + 1), size - 1, "r"))) abort();
  body_csv_reader_init(&rd, f);
  if ((got = body_csv_read_row(&rd, &fuzz_hdr)) <= 0) goto out;
  fuzz_row_ok(&fuzz_hdr);
  for (size_t i = 0; i < fuzz_hdr.n; i++) {
    if (fuzz_hdr.len[i] == 2 && !memcmp(fuzz_hdr.col[i], "id", 2)) continue;
    if (!schema_field_find(kind, fuzz_hdr.col[i], fuzz_hdr.len[i])) goto out;
  }
  for (unsigned rows = 0; (got = body_csv_read_row(&rd, &fuzz_row)) != 0; rows++) {
    body_error why = { "", "" };
    msgpack_sbuffer sb;
    const char *id;
    size_t n;
    int e;
    FUZZ_CHECK(rows <= size); /* every row consumes input */
    if (got < 0) {
      /* Too long or too wide: consumed, reading goes on; a bad quote ends
       * the file. */
      FUZZ_CHECK(got == STOA_ETOOBIG || got == STOA_EMALFORMED);
      if (got == STOA_EMALFORMED) break;
      continue;
    }
    fuzz_row_ok(&fuzz_row);
    msgpack_sbuffer_init(&sb);
    if ((e = body_csv_kv(&fuzz_hdr, &fuzz_row, fuzz_kv, &n, &id, &why)) == 0) {
      FUZZ_CHECK(n <= BODY_CSV_MAX_COLS && id != NULL);
      e = body_from_kv(kind, fuzz_kv, n, &res, &sb, &why);
      fuzz_why_ok(&why);
      if (e == 0) fuzz_body_built(kind, (const uint8_t *)sb.data, sb.size);
      else FUZZ_CHECK(e < 0 && sb.size == 0);
    }
    msgpack_sbuffer_destroy(&sb);
  }
out:
  fclose(f);
  return 0;
}
