/*
 * fuzz_json.c - `stoa add --from-json`: a file of one JSON object, an array
 * of objects, or JSON Lines (cli/cmd_entry.c add_json), each object through
 * body_from_json and schema_check (cli/body.c).
 *
 * The first byte picks the kind given on the command line (org, actor,
 * practice; an object's own "kind" member wins, as in the CLI); the rest is
 * the file.  Every body built is checked by fuzz_body_built.
 *
 * With the first byte >= 0x80, the rest is instead a body of kind b & 7 as
 * it arrives in a record from the network, and the other direction is
 * fuzzed: what `stoa show`, `export` and `edit` do with it.  A body the
 * schema accepts must convert to JSON and to a CSV row, its JSON must
 * import again, and an edit that changes nothing must stay schema-valid.
 */
#include "tests/fuzz/fuzz_body.h"

static void fuzz_obj(int kind, json_t *o) {
  body_resolver res = { fuzz_resolve, NULL };
  body_error why = { "", "" };
  msgpack_sbuffer sb;
  const char *k = json_string_value(json_object_get(o, "kind"));
  int kk = k ? rec_kind_from_name(k, strlen(k)) : kind, e;

  if (!json_is_object(o) || !rec_kind_is_entry(kk)) return;
  msgpack_sbuffer_init(&sb);
  e = body_from_json(kk, o, &res, &sb, &why);
  fuzz_why_ok(&why);
  if (e) {
    FUZZ_CHECK(e < 0 && sb.size == 0); /* nothing appended on failure */
  } else {
    fuzz_body_built(kk, (const uint8_t *)sb.data, sb.size);
  }
  msgpack_sbuffer_destroy(&sb);
}

static void fuzz_export(int kind, const uint8_t *body, size_t len) {
  static FILE *devnull;
  body_error why = { "", "" };
  msgpack_sbuffer sb;
  json_t *j;
  int e;

  j = body_to_json(kind, body, len, NULL);
  if (schema_check(kind, body, len, &why) != 0) {
    json_decref(j); /* may or may not convert: only memory safety counts */
    return;
  }
  fuzz_note("network body schema-valid");
  FUZZ_CHECK(j != NULL);
  msgpack_sbuffer_init(&sb);
  e = body_from_json(kind, j, NULL, &sb, &why);
  fuzz_why_ok(&why);
  FUZZ_CHECK(e <= 0);
  msgpack_sbuffer_destroy(&sb);
  json_decref(j);
  if (!devnull && !(devnull = fopen("/dev/null", "w"))) abort();
  FUZZ_CHECK(body_csv_write_row(devnull, kind, "0123", body, len, NULL) == 0);
  msgpack_sbuffer_init(&sb);
  e = body_edit(kind, body, len, NULL, 0, NULL, 0, NULL, &sb, &why);
  FUZZ_CHECK(e == 0);
  FUZZ_CHECK(schema_check(kind, (const uint8_t *)sb.data, sb.size, &why) == 0);
  msgpack_sbuffer_destroy(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *buf;
  size_t len;
  json_error_t jerr;
  json_t *all;
  int kind;

  if (size == 0) return 0;
  fuzz_sodium();
  if (data[0] >= 0x80) {
    kind = data[0] & 7;
    if (rec_kind_name(kind)) fuzz_export(kind, data + 1, size - 1);
    return 0;
  }
  kind = REC_ORG + data[0] % 3;
  buf = (const char *)data + 1;
  len = size - 1;
  if ((all = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr)) != NULL) {
    size_t cnt = json_is_array(all) ? json_array_size(all) : 1;
    for (size_t i = 0; i < cnt; i++) fuzz_obj(kind, json_is_array(all) ? json_array_get(all, i) : all);
    json_decref(all);
    return 0;
  }
  for (const char *l = buf, *end = buf + len; l < end;) {
    const char *nl = memchr(l, '\n', (size_t)(end - l));
    size_t ll = nl ? (size_t)(nl - l) : (size_t)(end - l);
    json_t *o = json_loadb(l, ll, JSON_REJECT_DUPLICATES, &jerr);
    if (o) {
      fuzz_obj(kind, o);
      json_decref(o);
    }
    l = nl ? nl + 1 : end;
  }
  return 0;
}
