/*
 * cmd_admin.c - `stoa verify` and `stoa reindex`.
 */
#include <string.h>

#include "cli/cli.h"
#include "proto/err.h"

static void problem(void *ctx, const char *what, const uint8_t hash[HASH_LEN]) {
  cli *c = ctx;
  char h[65];
  if (hash) cli_hex(hash, HASH_LEN, h);
  if (!c->json) printf("problem: %s%s%.16s\n", what, hash ? ": record " : "", hash ? h : "");
}

int cmd_verify(cli *c, int argc, char **argv) {
  int x, n;
  (void)argv;
  if (argc != 1) { fprintf(stderr, "usage: stoa verify\n"); return EX_USAGE; }
  if ((x = cli_open(c))) return x;
  store_rd *rd;
  store_stats st = { 0 };
  if (c->tty && !c->quiet && !c->json && !store_rd_begin(c->st, &rd)) {
    store_stats_get(rd, &st);
    store_rd_end(rd);
    fprintf(stderr, "checking %llu records (signatures on every core) and every index...\n",
            (unsigned long long)st.records);
  }
  store_problem_cb cb = { problem, c };
  n = store_verify(c->st, &cb);
  if (n < 0) return cli_fail("verify", n);
  if (!store_rd_begin(c->st, &rd)) { store_stats_get(rd, &st); store_rd_end(rd); }
  if (c->json) cli_json_out(json_pack("{s:I, s:I, s:I, s:I, s:i}", "records", (json_int_t)st.records, "entries",
                                      (json_int_t)st.entries, "pending", (json_int_t)st.pending, "dropped",
                                      (json_int_t)st.dropped, "problems", n));
  else printf("%llu records, %llu entries checked: %d problem(s); %llu pending, %llu dropped\n",
              (unsigned long long)st.records, (unsigned long long)st.entries, n,
              (unsigned long long)st.pending, (unsigned long long)st.dropped);
  return n ? EX_VERIFY : 0;
}

int cmd_reindex(cli *c, int argc, char **argv) {
  int x, e;
  store_counts cnt = { 0 };
  (void)argv;
  if (argc != 1) { fprintf(stderr, "usage: stoa reindex\n"); return EX_USAGE; }
  if ((x = cli_open(c))) return x;
  if ((e = store_reindex(c->st, &cnt))) return cli_fail("reindex", e);
  if (c->json) cli_json_out(json_pack("{s:I}", "records", (json_int_t)cnt.fresh));
  else if (!c->quiet) printf("reindexed %zu records\n", cnt.fresh);
  return 0;
}
