/*
 * cmd_query.c - `stoa show`, `log`, `ls`, `search`: reading entries.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/body.h"
#include "cli/cli.h"
#include "proto/err.h"

static void ref_fmt(void *ctx, const uint8_t ekey[EKEY_LEN], char *out, size_t cap) {
  (void)ctx;
  char id[33];
  cli_id(ekey, id);
  snprintf(out, cap, "%s", id);
}

/* A JSON object for one record: metadata and its body. */
json_t *record_json(const rec *r, const store_entry *en) {
  char id[33], owner[65], signer[65], hash[65], t[32];
  body_formatter fmt = { ref_fmt, NULL, 0 };
  cli_hex(r->h.id, ID_LEN, id);
  cli_hex(r->h.owner, KEY_LEN, owner);
  cli_hex(r->h.signer, KEY_LEN, signer);
  cli_hex(r->hash, HASH_LEN, hash);
  cli_time(r->h.ts, t);
  json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "kind", rec_kind_name(r->h.kind),
                        "owner", owner, "signer", signer, "ts", t, "hash", hash);
  if (en) json_object_set_new(o, "versions", json_integer(en->versions));
  if (r->body) {
    json_t *b = body_to_json(r->h.kind, r->body, r->body_len, &fmt);
    if (b) json_object_update(o, b);
    json_decref(b);
  } else {
    json_object_set_new(o, "erased", json_true());
  }
  return o;
}

static void print_record(const rec *r, const store_entry *en) {
  json_t *o = record_json(r, en);
  const char *k;
  json_t *v;
  json_object_foreach(o, k, v) {
    char *s = NULL;
    if (json_is_string(v)) printf("%-12s %s\n", k, json_string_value(v));
    else if (json_is_array(v)) {
      printf("%-12s", k);
      size_t i;
      json_t *x;
      json_array_foreach(v, i, x) {
        if (json_is_string(x)) printf("%s%s", i ? ", " : " ", json_string_value(x));
        else { s = json_dumps(x, JSON_COMPACT); printf("%s%s", i ? ", " : " ", s); free(s); s = NULL; }
      }
      printf("\n");
    } else {
      s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
      printf("%-12s %s\n", k, s ? s : "?");
      free(s);
    }
  }
  json_decref(o);
}

int cmd_show(cli *c, int argc, char **argv) {
  store_entry en;
  store_rd *rd;
  const uint8_t *buf;
  size_t len;
  rec r;
  int x, e;
  if (argc != 2) { fprintf(stderr, "usage: stoa show ID\n"); return EX_USAGE; }
  if ((x = cli_resolve(c, argv[1], &en))) return x;
  if ((e = store_rd_begin(c->st, &rd))) return cli_fail("store", e);
  if ((e = store_get(rd, en.hash, &buf, &len)) || (e = rec_decode(buf, len, &r))) {
    store_rd_end(rd);
    return cli_fail("show", e);
  }
  if (c->json) cli_json_out(record_json(&r, &en));
  else print_record(&r, &en);
  store_rd_end(rd);
  return 0;
}

typedef struct log_ctx { cli *c; store_rd *rd; json_t *arr; int err; } log_ctx;

static int log_one(void *vctx, uint64_t ts, const uint8_t hash[HASH_LEN]) {
  log_ctx *l = vctx;
  const uint8_t *buf;
  size_t len;
  rec r;
  char t[32], signer[65], h[65];
  (void)ts;
  if ((l->err = store_get(l->rd, hash, &buf, &len)) || (l->err = rec_decode(buf, len, &r))) return 1;
  if (l->arr) {
    json_array_append_new(l->arr, record_json(&r, NULL));
    return 0;
  }
  cli_time(r.h.ts, t);
  cli_hex(r.h.signer, KEY_LEN, signer);
  cli_hex(r.hash, HASH_LEN, h);
  printf("version %.16s  %s UTC  signed by %.16s%s\n", h, t, signer,
         memcmp(r.h.signer, r.h.owner, KEY_LEN) ? " (editor)" : " (network key)");
  if (!r.body) printf("  (body erased)\n");
  else {
    json_t *o = record_json(&r, NULL);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
      if (!strcmp(k, "id") || !strcmp(k, "kind") || !strcmp(k, "owner") || !strcmp(k, "signer") ||
          !strcmp(k, "ts") || !strcmp(k, "hash"))
        continue;
      char *s = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
      printf("  %-11s %s\n", k, s ? s : json_string_value(v));
      free(s);
    }
    json_decref(o);
  }
  return 0;
}

int cmd_log(cli *c, int argc, char **argv) {
  store_entry en;
  log_ctx l = { c, NULL, NULL, 0 };
  int x, e;
  if (argc != 2) { fprintf(stderr, "usage: stoa log ID\n"); return EX_USAGE; }
  if ((x = cli_resolve(c, argv[1], &en))) return x;
  if ((e = store_rd_begin(c->st, &l.rd))) return cli_fail("store", e);
  if (c->json) l.arr = json_array();
  e = store_history(l.rd, en.ekey, log_one, &l);
  store_rd_end(l.rd);
  if (l.err || e < 0) { json_decref(l.arr); return cli_fail("log", l.err ? l.err : e); }
  if (l.arr) cli_json_out(l.arr);
  return 0;
}

typedef struct ls_ctx { cli *c; store_rd *rd; json_t *arr; } ls_ctx;

static int ls_one(void *vctx, const store_entry *en) {
  ls_ctx *l = vctx;
  char id[33], title[256], t[32];
  cli_id(en->ekey, id);
  if (l->arr) {
    const uint8_t *buf;
    size_t len;
    rec r;
    if (!store_get(l->rd, en->hash, &buf, &len) && !rec_decode(buf, len, &r))
      json_array_append_new(l->arr, record_json(&r, en));
    return 0;
  }
  cli_title(l->rd, en, title, sizeof title);
  cli_time(en->ts, t);
  printf("%.*s  %-8s %s  %s\n", SHORT_ID, id, rec_kind_name(en->kind), t, title);
  return 0;
}

static int query_cmd(cli *c, int argc, char **argv, bool need_text) {
  store_query q;
  int nc = 0, nt = 0, x, e;
  ls_ctx l = { c, NULL, NULL };
  char *text = NULL;
  size_t tl = 0;
  memset(&q, 0, sizeof q);
  for (int i = 1; i < argc; i++) {
    const char *v;
    if (cli_opt(argc, argv, &i, "--kind", &v)) {
      q.kind = rec_kind_from_name(v, strlen(v));
      if (!q.kind) { fprintf(stderr, "stoa: unknown kind '%s'\n", v); free(text); return EX_USAGE; }
    } else if (cli_opt(argc, argv, &i, "--country", &v)) {
      if (!schema_country_valid(v, strlen(v)) && !(strlen(v) == 2)) {
        fprintf(stderr, "stoa: '%s' is not a country code\n", v);
        free(text);
        return EX_USAGE;
      }
      if (nc < STORE_QUERY_FILTERS) q.country[nc++] = v;
    } else if (cli_opt(argc, argv, &i, "--theme", &v)) {
      /* A later version's theme may reach this node in its records
       * (schema_check takes any slug in an open field): it can be searched
       * for, with a word that it is not one this version knows, in case
       * of a typo. */
      if (!schema_theme_valid(v, strlen(v))) {
        if (!schema_slug_valid(v, strlen(v))) {
          fprintf(stderr, "stoa: '%s' is not a theme (a lower-case slug such as labour-rights)\n", v);
          free(text);
          return EX_USAGE;
        }
        fprintf(stderr, "stoa: warning: '%s' is not a theme this version knows\n", v);
      }
      if (nt < STORE_QUERY_FILTERS) q.theme[nt++] = v;
    } else if (cli_opt(argc, argv, &i, "--limit", &v)) {
      q.limit = (size_t)strtoul(v, NULL, 10);
    } else if (cli_opt(argc, argv, &i, "--offset", &v)) {
      q.offset = (size_t)strtoul(v, NULL, 10);
    } else if (argv[i][0] == '-' && argv[i][1] == '-') {
      fprintf(stderr, "stoa: unknown option %s\n", argv[i]);
      free(text);
      return EX_USAGE;
    } else if (need_text) { /* words of the query */
      size_t n = strlen(argv[i]);
      char *t = realloc(text, tl + n + 2);
      if (!t) { free(text); return EX_FAIL; }
      text = t;
      if (tl) text[tl++] = ' ';
      memcpy(text + tl, argv[i], n + 1);
      tl += n;
    } else {
      fprintf(stderr, "stoa ls: unexpected argument '%s' (did you mean `stoa search`?)\n", argv[i]);
      return EX_USAGE;
    }
  }
  if (need_text && !text && !nc && !nt && !q.kind) { fprintf(stderr, "usage: stoa search TEXT [--kind K] [--country CC] [--theme T]\n"); return EX_USAGE; }
  q.text = text;
  if ((x = cli_open(c))) { free(text); return x; }
  if ((e = store_rd_begin(c->st, &l.rd))) { free(text); return cli_fail("store", e); }
  if (c->json) l.arr = json_array();
  e = store_search(l.rd, &q, ls_one, &l);
  store_rd_end(l.rd);
  free(text);
  if (e < 0) { json_decref(l.arr); return cli_fail("search", e); }
  if (l.arr) cli_json_out(l.arr);
  else if (e == 0 && !c->quiet) fprintf(stderr, "no entries found\n");
  return 0;
}

int cmd_ls(cli *c, int argc, char **argv) { return query_cmd(c, argc, argv, false); }
int cmd_search(cli *c, int argc, char **argv) { return query_cmd(c, argc, argv, true); }
