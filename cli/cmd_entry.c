/*
 * cmd_entry.c - `stoa add`, `edit`, `erase`: writing entries.
 */
#include <errno.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli/body.h"
#include "cli/cli.h"
#include "proto/err.h"
#include "proto/mp.h"

/* Option name -> field: exact, with '-' as '_', or the plural (--theme). */
static const schema_field *option_field(int kind, const char *opt) {
  char name[64];
  size_t n = strlen(opt);
  if (n + 2 > sizeof name) return NULL;
  for (size_t i = 0; i <= n; i++) name[i] = opt[i] == '-' ? '_' : opt[i];
  const schema_field *f = schema_field_find(kind, name, n);
  if (f) return f;
  name[n] = 's';
  name[n + 1] = 0;
  if ((f = schema_field_find(kind, name, n + 1))) return f;
  if (n > 1 && name[n - 1] == 'y') { /* --country: countries */
    memcpy(name + n - 1, "ies", 4);
    return schema_field_find(kind, name, n + 2);
  }
  return NULL;
}

/* ---- `stoa add --help`: the fields as options -------------------------- */

/* The option a field is typed as: '-' for '_', a list by its singular. */
static void field_option(const schema_field *f, char *out, size_t cap) {
  size_t n = strlen(f->name);
  snprintf(out, cap, "%s", f->name);
  if (n >= cap) return;
  if ((f->flags & SFF_LIST) && n > 3 && !strcmp(out + n - 3, "ies")) strcpy(out + n - 3, "y");
  else if ((f->flags & SFF_LIST) && n > 1 && out[n - 1] == 's') out[n - 1] = 0;
  for (char *p = out; *p; p++)
    if (*p == '_') *p = '-';
}

static const char *field_arg(const schema_field *f) {
  switch (f->type) {
  case SF_COUNTRY: return "CC";
  case SF_LANG: return "LANG";
  case SF_THEME: return "THEME";
  case SF_URL: return "URL";
  case SF_EMAIL: return "EMAIL";
  case SF_PHONE: return "PHONE";
  case SF_INT: return "N";
  case SF_BOOL: return "true|false";
  case SF_PERIOD: return "PERIOD";
  case SF_REF: return "ID";
  case SF_ENUM: return "WORD";
  default: return "TEXT";
  }
}

/* words, comma-separated, wrapped at 78 columns after an indent. */
static void words_help(FILE *out, const char *const *w, int indent) {
  int col = indent;
  fprintf(out, "%*s", indent, "");
  for (size_t i = 0; w[i]; i++) {
    int len = (int)strlen(w[i]) + (w[i + 1] ? 1 : 0);
    if (col > indent && col + 1 + len > 78) {
      fprintf(out, "\n%*s", indent, "");
      col = indent;
    } else if (i) {
      fputc(' ', out);
      col++;
    }
    fprintf(out, "%s%s", w[i], w[i + 1] ? "," : "");
    col += len;
  }
  fputc('\n', out);
}

void cli_fields_help(FILE *out, int kind) {
  size_t n;
  const schema_field *fs = schema_fields(kind, &n);
  fprintf(out, "\nFields of %s (* required):\n", rec_kind_name(kind));
  for (size_t i = 0; i < n; i++) {
    char opt[64], left[96];
    field_option(&fs[i], opt, sizeof opt);
    snprintf(left, sizeof left, "--%s %s%s%s", opt, field_arg(&fs[i]), fs[i].flags & SFF_LIST ? "..." : "",
             fs[i].flags & SFF_REQUIRED ? " *" : "");
    fprintf(out, "  %-26s %s\n", left, fs[i].help);
    if (fs[i].type == SF_ENUM && fs[i].vocab) words_help(out, fs[i].vocab, 29);
  }
}

void cli_themes_help(FILE *out, bool fields) {
  if (fields) fprintf(out, "\nA list field (...) takes its option once per item, or items as \"a;b\".\n");
  fprintf(out, "\nThemes (--theme):\n");
  words_help(out, schema_themes, 2);
}

/* A batch of signed records waiting to be stored together. */
typedef struct pubq {
  store_item *items;
  uint8_t **bufs;
  size_t n, cap;
} pubq;

static int pubq_add(cli *c, pubq *q, int kind, const uint8_t *body, size_t blen,
                    const stoa_key *signer, const uint8_t owner[32], const uint8_t *id_in) {
  uint8_t id[ID_LEN];
  size_t len;
  int e;
  if (q->n == q->cap) {
    size_t nc = q->cap ? q->cap * 2 : 64;
    store_item *ni = realloc(q->items, nc * sizeof *ni);
    if (!ni) return STOA_ENOMEM;
    q->items = ni;
    uint8_t **nb = realloc(q->bufs, nc * sizeof *nb);
    if (!nb) return STOA_ENOMEM;
    q->bufs = nb;
    q->cap = nc;
  }
  uint8_t *buf = malloc(REC_MAX);
  if (!buf) return STOA_ENOMEM;
  if (id_in) memcpy(id, id_in, ID_LEN);
  else randombytes_buf(id, sizeof id);
  const charter *ch = store_charter(c->st);
  e = rec_build(kind, owner, id, cli_now(), signer->sk, body, blen, ch->id, buf, REC_MAX, &len);
  if (e) { free(buf); return e; }
  store_item *it = &q->items[q->n];
  memset(it, 0, sizeof *it);
  it->buf = buf;
  it->len = len;
  if ((e = rec_decode(buf, len, &it->r))) { free(buf); return e; }
  it->sig_ok = rec_verify(&it->r, ch->id) == 0;
  q->bufs[q->n++] = buf;
  return 0;
}

static void pubq_free(pubq *q) {
  for (size_t i = 0; i < q->n; i++) free(q->bufs[i]);
  free(q->bufs);
  free(q->items);
}

/* Stores the queue and prints the new ids.  Returns an exit code. */
static int pubq_commit(cli *c, pubq *q) {
  store_counts cnt = { 0 };
  int e, r = 0;
  /* One transaction: a file of entries is stored whole or not at all, so
   * that running the command again after a failure creates no duplicates. */
  if (q->n && (e = store_ingest(c->st, q->items, q->n, cli_now(), &cnt))) return cli_fail("cannot store", e);
  if (cnt.fresh) c->wrote = true;
  json_t *arr = c->json ? json_array() : NULL;
  for (size_t i = 0; i < q->n; i++) {
    store_item *it = &q->items[i];
    char id[2 * ID_LEN + 1];
    cli_hex(it->r.h.id, ID_LEN, id);
    if (it->status == ST_REJECTED) {
      fprintf(stderr, "stoa: record %s rejected: %s\n", id,
              it->err == STOA_ESCHEMA ? it->why.msg : stoa_strerror(it->err));
      r = cli_exit_for(it->err);
      continue;
    }
    if (arr) json_array_append_new(arr, json_pack("{s:s, s:s}", "id", id, "status",
                                                  it->status == ST_PENDING ? "pending" : "new"));
    else printf("%s\n", id);
  }
  if (arr) cli_json_out(arr);
  cli_pending_note(c, cnt.pending);
  return r;
}

/* One JSON object of an input file: checked and queued, or counted bad.
 * `where` names it in messages ("file: item 3", "file:12").  Returns 0 or
 * an error that stops the whole input. */
static int add_json_obj(cli *c, pubq *q, int kind, json_t *o, const char *where, const stoa_key *ed,
                        const uint8_t owner[32], int *bad) {
  body_resolver res = { cli_ref_resolve, c };
  body_error why = { "", "" };
  const char *k = json_string_value(json_object_get(o, "kind"));
  int kk = k ? rec_kind_from_name(k, strlen(k)) : kind, e = 0;
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  if (!json_is_object(o) || !rec_kind_is_entry(kk)) {
    fprintf(stderr, "stoa: %s: not an org, actor or practice object\n", where);
    (*bad)++;
  } else if ((e = body_from_json(kk, o, &res, &sb, &why)) ||
             (e = schema_check(kk, (uint8_t *)sb.data, sb.size, &why))) {
    fprintf(stderr, "stoa: %s: %s: %s\n", where, why.field[0] ? why.field : "body",
            why.msg[0] ? why.msg : stoa_strerror(e));
    (*bad)++;
    e = 0;
  } else {
    e = pubq_add(c, q, kk, (uint8_t *)sb.data, sb.size, ed, owner, NULL);
  }
  msgpack_sbuffer_destroy(&sb);
  return e;
}

/* A file (or "-") of one JSON object, an array of objects, or JSON Lines.
 * Read whole first, so that standard input works for every form. */
static int add_json(cli *c, pubq *q, int kind, const char *file, const stoa_key *ed,
                    const uint8_t owner[32], int *bad) {
  FILE *f = strcmp(file, "-") ? fopen(file, "r") : stdin;
  char *buf = NULL, where[300];
  size_t len = 0, cap = 0;
  int e = 0;
  if (!f) { cli_fail(file, -errno); return EX_INVALID; }
  for (;;) {
    if (len == cap) {
      char *p = cap < ((size_t)1 << 30) ? realloc(buf, cap = cap ? cap * 2 : 65536) : NULL;
      if (!p) { e = STOA_ETOOBIG; break; }
      buf = p;
    }
    size_t n = fread(buf + len, 1, cap - len, f);
    len += n;
    if (n == 0) break;
  }
  if (!e && ferror(f)) e = -EIO;
  if (f != stdin) fclose(f);
  if (e) { free(buf); cli_fail(file, e); return EX_INVALID; }
  json_error_t jerr;
  json_t *all = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
  if (all) {
    json_t *arr = json_is_array(all) ? all : NULL;
    size_t cnt = arr ? json_array_size(arr) : 1;
    for (size_t i = 0; i < cnt && !e; i++) {
      snprintf(where, sizeof where, "%.200s: item %zu", file, i + 1);
      e = add_json_obj(c, q, kind, arr ? json_array_get(arr, i) : all, where, ed, owner, bad);
    }
    json_decref(all);
  } else {
    unsigned long lineno = 0;
    for (char *l = buf, *end = buf + len; l < end && !e; lineno++) {
      char *nl = memchr(l, '\n', (size_t)(end - l));
      size_t ll = nl ? (size_t)(nl - l) : (size_t)(end - l);
      char *next = nl ? nl + 1 : end;
      snprintf(where, sizeof where, "%.200s:%lu", file, lineno + 1);
      if (strspn(l, " \t\r") < ll) {
        json_t *o = json_loadb(l, ll, JSON_REJECT_DUPLICATES, &jerr);
        if (!o) {
          fprintf(stderr, "stoa: %s: not JSON: %s\n", where, jerr.text);
          (*bad)++;
        } else {
          e = add_json_obj(c, q, kind, o, where, ed, owner, bad);
          json_decref(o);
        }
      }
      l = next;
    }
  }
  free(buf);
  return e ? cli_fail(file, e) : 0;
}

static int add_csv(cli *c, pubq *q, int kind, const char *file, const stoa_key *ed,
                   const uint8_t owner[32], int *bad) {
  FILE *f = strcmp(file, "-") ? fopen(file, "r") : stdin;
  body_resolver res = { cli_ref_resolve, c };
  body_csv_reader rd;
  body_csv_row *hdr = malloc(sizeof *hdr), *row = malloc(sizeof *row);
  body_kv *kv = malloc(BODY_CSV_MAX_COLS * sizeof *kv);
  int e = 0, got;
  bool latin = false; /* a cell is not UTF-8 */
  if (!f) { cli_fail(file, -errno); free(hdr); free(row); free(kv); return EX_INVALID; }
  if (!hdr || !row || !kv) { e = STOA_ENOMEM; goto out; }
  body_csv_reader_init(&rd, f);
  got = body_csv_read_row(&rd, hdr);
  if (rd.utf16) {
    fprintf(stderr, "stoa: %s is UTF-16 text (a spreadsheet's \"Unicode text\"): save it as \"CSV UTF-8\", "
                    "or convert it: iconv -f UTF-16 -t UTF-8 %s > converted.csv\n", file, file);
    (*bad)++;
    goto out;
  }
  if (got <= 0) {
    fprintf(stderr, "stoa: %s: %s\n", file, got == 0 ? "empty file: the first row must name the fields"
                                                     : stoa_strerror(got));
    (*bad)++;
    goto out;
  }
  for (size_t i = 0; i < hdr->n; i++) { /* check the header once */
    char name[64];
    if (hdr->len[i] == 2 && !memcmp(hdr->col[i], "id", 2)) continue;
    snprintf(name, sizeof name, "%.*s", (int)hdr->len[i], hdr->col[i]);
    if (!schema_field_find(kind, name, strlen(name))) {
      fprintf(stderr, "stoa: %s: column '%s' is not a field of %s\n", file, name, rec_kind_name(kind));
      (*bad)++;
    }
  }
  if (*bad) goto out;
  while ((got = body_csv_read_row(&rd, row)) > 0) {
    size_t n;
    const char *id;
    body_error why = { "", "" };
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    if ((e = body_csv_kv(hdr, row, kv, &n, &id, &why)) ||
        (e = body_from_kv(kind, kv, n, &res, &sb, &why)) ||
        (e = schema_check(kind, (uint8_t *)sb.data, sb.size, &why))) {
      fprintf(stderr, "stoa: %s:%lu: %s: %s\n", file, row->line, why.field[0] ? why.field : "row",
              why.msg[0] ? why.msg : stoa_strerror(e));
      for (size_t i = 0; i < row->n && !latin; i++) /* why, when it is the encoding */
        latin = !mp_utf8_valid((const uint8_t *)row->col[i], row->len[i]);
      (*bad)++;
      e = 0;
    } else if ((e = pubq_add(c, q, kind, (uint8_t *)sb.data, sb.size, ed, owner, NULL))) {
      msgpack_sbuffer_destroy(&sb);
      break;
    }
    msgpack_sbuffer_destroy(&sb);
  }
  if (got < 0) {
    fprintf(stderr, "stoa: %s:%lu: %s\n", file, rd.line, stoa_strerror(got));
    (*bad)++;
  }
  if (latin) /* most often a spreadsheet's own encoding */
    fprintf(stderr, "stoa: %s is not UTF-8 text: save it as \"CSV UTF-8\", or convert it, for Windows' Western "
                    "encoding: iconv -f WINDOWS-1252 -t UTF-8 %s > converted.csv\n", file, file);
out:
  if (f && f != stdin) fclose(f);
  free(hdr);
  free(row);
  free(kv);
  return e ? cli_fail(file, e) : 0;
}

int cmd_add(cli *c, int argc, char **argv) {
  const char *json_file = NULL, *csv_file = NULL;
  body_kv kv[128];
  size_t nkv = 0;
  int kind = 0, r, e, bad = 0;
  stoa_key ed;
  uint8_t owner[32];
  pubq q = { 0 };

  int i = 1;
  if (i < argc && argv[i][0] != '-') {
    kind = rec_kind_from_name(argv[i], strlen(argv[i]));
    if (!rec_kind_is_entry(kind)) {
      fprintf(stderr, "stoa add: kind must be org, actor or practice, not '%s'\n", argv[i]);
      return EX_USAGE;
    }
    i++;
  }
  for (; i < argc; i++) {
    const char *v;
    if (cli_opt(argc, argv, &i, "--from-json", &v)) json_file = v;
    else if (cli_opt(argc, argv, &i, "--from-csv", &v)) csv_file = v;
    else if (!strncmp(argv[i], "--", 2) && kind) {
      const char *opt = argv[i] + 2, *eq = strchr(opt, '=');
      char name[64];
      snprintf(name, sizeof name, "%.*s", (int)(eq ? eq - opt : (long)strlen(opt)), opt);
      const schema_field *f = option_field(kind, name);
      if (!f) {
        fprintf(stderr, "stoa add: %s has no field --%s (see `stoa add --help`)\n", rec_kind_name(kind), name);
        return EX_USAGE;
      }
      if (!eq && i + 1 >= argc) { fprintf(stderr, "stoa add: --%s needs a value\n", name); return EX_USAGE; }
      if (nkv == sizeof kv / sizeof *kv) { fprintf(stderr, "stoa add: too many options\n"); return EX_USAGE; }
      kv[nkv].field = f->name;
      kv[nkv++].value = eq ? eq + 1 : argv[++i];
    } else {
      fprintf(stderr, "stoa add: unexpected argument '%s'\n", argv[i]);
      return EX_USAGE;
    }
  }
  if (!kind && !json_file) {
    fprintf(stderr, "usage: stoa add org|actor|practice [--FIELD VALUE ...] | --from-json FILE | --from-csv FILE\n");
    return EX_USAGE;
  }
  if (csv_file && !kind) { fprintf(stderr, "stoa add: --from-csv needs the kind\n"); return EX_USAGE; }
  if ((r = cli_open(c)) || (r = cli_pub(c, "network", owner)) || (r = cli_key(c, "editor", &ed))) return r;
  if ((r = cli_signer_check(c, &ed, owner))) { keys_wipe(&ed); return r; }
  if (json_file) r = add_json(c, &q, kind, json_file, &ed, owner, &bad);
  else if (csv_file) r = add_csv(c, &q, kind, csv_file, &ed, owner, &bad);
  else {
    body_resolver res = { cli_ref_resolve, c };
    body_error why = { "", "" };
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    if ((e = body_from_kv(kind, kv, nkv, &res, &sb, &why)) ||
        (e = schema_check(kind, (uint8_t *)sb.data, sb.size, &why))) {
      fprintf(stderr, "stoa add: %s%s%s\n", why.field[0] ? "--" : "", why.field[0] ? why.field : "",
              why.msg[0] ? (why.field[0] ? "" : why.msg) : "");
      if (why.field[0]) fprintf(stderr, "  %s\n", why.msg[0] ? why.msg : stoa_strerror(e));
      bad++;
    } else if ((e = pubq_add(c, &q, kind, (uint8_t *)sb.data, sb.size, &ed, owner, NULL))) {
      r = cli_fail("add", e);
    }
    msgpack_sbuffer_destroy(&sb);
  }
  keys_wipe(&ed);
  if (!r && bad) {
    fprintf(stderr, "stoa add: %d invalid item(s); nothing was stored\n", bad);
    r = EX_INVALID;
  }
  if (!r) r = pubq_commit(c, &q);
  pubq_free(&q);
  return r;
}

/* The current record of an entry (body may be NULL when erased). */
static int current(cli *c, const store_entry *en, uint8_t **copy, size_t *len) {
  store_rd *rd;
  const uint8_t *buf;
  int e = store_rd_begin(c->st, &rd);
  if (e) return e;
  if (!(e = store_get(rd, en->hash, &buf, len))) {
    *copy = malloc(*len);
    if (!*copy) e = STOA_ENOMEM;
    else memcpy(*copy, buf, *len);
  }
  store_rd_end(rd);
  return e;
}

int cmd_edit(cli *c, int argc, char **argv) {
  body_kv kv[128];
  const char *unset[64];
  size_t nkv = 0, nun = 0;
  store_entry en;
  uint8_t owner[32], *old = NULL;
  size_t oldlen;
  stoa_key ed;
  rec r0;
  int r, e;

  if (argc < 2 || argv[1][0] == '-') {
    fprintf(stderr, "usage: stoa edit ID [--FIELD VALUE ...] [--unset FIELD ...]\n");
    return EX_USAGE;
  }
  if ((r = cli_resolve(c, argv[1], &en))) return r;
  if (!rec_kind_is_entry(en.kind)) { fprintf(stderr, "stoa edit: %s is not an org, actor or practice\n", argv[1]); return EX_USAGE; }
  for (int i = 2; i < argc; i++) {
    const char *v;
    if (cli_opt(argc, argv, &i, "--unset", &v)) {
      const schema_field *f = option_field(en.kind, v);
      if (nun < 64) unset[nun++] = f ? f->name : v;
    } else if (!strncmp(argv[i], "--", 2)) {
      const char *opt = argv[i] + 2, *eq = strchr(opt, '=');
      char name[64];
      snprintf(name, sizeof name, "%.*s", (int)(eq ? eq - opt : (long)strlen(opt)), opt);
      const schema_field *f = option_field(en.kind, name);
      if (!f) { fprintf(stderr, "stoa edit: %s has no field --%s\n", rec_kind_name(en.kind), name); return EX_USAGE; }
      if (!eq && i + 1 >= argc) { fprintf(stderr, "stoa edit: --%s needs a value\n", name); return EX_USAGE; }
      if (nkv < 128) { kv[nkv].field = f->name; kv[nkv++].value = eq ? eq + 1 : argv[++i]; }
    } else {
      fprintf(stderr, "stoa edit: unexpected argument '%s'\n", argv[i]);
      return EX_USAGE;
    }
  }
  if (!nkv && !nun) { fprintf(stderr, "stoa edit: nothing to change\n"); return EX_USAGE; }
  if ((r = cli_pub(c, "network", owner))) return r;
  if (memcmp(en.ekey, owner, 32)) {
    fprintf(stderr, "stoa edit: %s belongs to another network; only its owner can edit it\n", argv[1]);
    return EX_USAGE;
  }
  if ((e = current(c, &en, &old, &oldlen)) || (e = rec_decode(old, oldlen, &r0))) {
    free(old);
    return cli_fail("edit", e);
  }
  if (!r0.body) {
    free(old);
    fprintf(stderr, "stoa edit: %s was erased; add a new entry instead\n", argv[1]);
    return EX_USAGE;
  }
  body_resolver res = { cli_ref_resolve, c };
  body_error why = { "", "" };
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  if ((e = body_edit(en.kind, r0.body, r0.body_len, kv, nkv, unset, nun, &res, &sb, &why)) ||
      (e = schema_check(en.kind, (uint8_t *)sb.data, sb.size, &why))) {
    fprintf(stderr, "stoa edit: %s: %s\n", why.field[0] ? why.field : "body", why.msg[0] ? why.msg : stoa_strerror(e));
    r = EX_INVALID;
  } else if (!(r = cli_key(c, "editor", &ed))) {
    int st;
    r = cli_publish(c, en.kind, r0.h.id, (uint8_t *)sb.data, sb.size, &ed, NULL, &st);
    keys_wipe(&ed);
    if (!r && !c->quiet) {
      char id[33];
      cli_id(en.ekey, id);
      if (c->json) cli_json_out(json_pack("{s:s, s:i}", "id", id, "versions", en.versions + 1));
      else printf("%s\n", id);
    }
  }
  msgpack_sbuffer_destroy(&sb);
  free(old);
  return r;
}

int cmd_erase(cli *c, int argc, char **argv) {
  const char *reason = NULL;
  store_entry en;
  uint8_t owner[32], id[ID_LEN];
  stoa_key ed;
  int r;
  if (argc < 2 || argv[1][0] == '-') { fprintf(stderr, "usage: stoa erase ID [--reason TEXT]\n"); return EX_USAGE; }
  for (int i = 2; i < argc; i++) {
    const char *v;
    if (cli_opt(argc, argv, &i, "--reason", &v)) reason = v;
    else { fprintf(stderr, "stoa erase: unexpected argument '%s'\n", argv[i]); return EX_USAGE; }
  }
  if ((r = cli_resolve(c, argv[1], &en)) || (r = cli_pub(c, "network", owner))) return r;
  bool own = memcmp(en.ekey, owner, 32) == 0;
  uint64_t now = cli_now(), until = now > en.ts ? now : en.ts;
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, reason ? 3 : 2);
  msgpack_pack_str_with_body(&pk, "target", 6);
  msgpack_pack_bin_with_body(&pk, en.ekey, EKEY_LEN);
  msgpack_pack_str_with_body(&pk, "until", 5);
  msgpack_pack_uint64(&pk, until);
  if (reason) {
    msgpack_pack_str_with_body(&pk, "reason", 6);
    msgpack_pack_str_with_body(&pk, reason, strlen(reason));
  }
  randombytes_buf(id, sizeof id);
  if (!(r = cli_key(c, "editor", &ed))) {
    r = cli_publish(c, REC_ERASE, id, (uint8_t *)sb.data, sb.size, &ed, NULL, NULL);
    keys_wipe(&ed);
  }
  msgpack_sbuffer_destroy(&sb);
  if (!r && !c->quiet) {
    store_rd *rd;
    bool done = false;
    if (!store_rd_begin(c->st, &rd)) {
      done = store_erased_until(rd, en.ekey) >= en.ts;
      store_rd_end(rd);
    }
    if (done) printf("erased: the bodies of every version are gone; the signed headers stay\n");
    else printf("erase vote recorded: %s belongs to another network, so it is erased once %u member "
                "networks agree\n", argv[1], (unsigned)store_charter(c->st)->quorum);
    (void)own;
  }
  return r;
}
