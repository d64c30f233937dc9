/*
 * cmd_fed.c - `stoa federation`, `members`, `key`: the trust records.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "proto/err.h"
#include "proto/trust.h"

static int fed_show(cli *c) {
  store_rd *rd;
  char fid[65], hex[65];
  uint8_t members[256][KEY_LEN];
  int e;
  const charter *ch = store_charter(c->st);
  if ((e = store_rd_begin(c->st, &rd))) return cli_fail("store", e);
  const trust_state *t = store_trust(rd);
  size_t n = t ? trust_members(t, cli_now(), members, 256) : 0;
  store_rd_end(rd);
  cli_hex(ch->id, HASH_LEN, fid);
  if (c->json) {
    json_t *m = json_array();
    for (size_t i = 0; i < n && i < 256; i++) {
      keys_pub_hex(members[i], hex);
      json_array_append_new(m, json_string(hex));
    }
    cli_json_out(json_pack("{s:s, s:s, s:i, s:I, s:o}", "id", fid, "name", ch->name, "quorum",
                           (int)ch->quorum, "founded", (json_int_t)ch->created, "members", m));
    return 0;
  }
  char t0[32];
  cli_time(ch->created, t0);
  printf("federation %s\n  id:      %s\n  founded: %s UTC by %u network(s)\n  quorum:  %u\n  members: %zu\n",
         ch->name, fid, t0, ch->nfounders, ch->quorum, n);
  for (size_t i = 0; i < n && i < 256; i++) {
    keys_pub_hex(members[i], hex);
    printf("    %s\n", hex);
  }
  return 0;
}

int cmd_federation(cli *c, int argc, char **argv) {
  int x, e;
  if (argc < 2) { fprintf(stderr, "usage: stoa federation show | charter -o FILE | admit KEY | remove KEY\n"); return EX_USAGE; }
  if ((x = cli_open(c))) return x;
  if (!strcmp(argv[1], "show")) return fed_show(c);
  if (!strcmp(argv[1], "charter")) {
    const char *out = NULL;
    for (int i = 2; i < argc; i++) {
      const char *v;
      if (cli_opt(argc, argv, &i, "-o", &v)) out = v;
      else { fprintf(stderr, "stoa federation charter: unexpected '%s'\n", argv[i]); return EX_USAGE; }
    }
    if (!out) { fprintf(stderr, "usage: stoa federation charter -o FILE\n"); return EX_USAGE; }
    uint8_t *buf;
    size_t len;
    if ((e = store_charter_bytes(c->st, &buf, &len))) return cli_fail("charter", e);
    FILE *f = fopen(out, "wb");
    if (!f) { free(buf); return cli_fail(out, -errno); }
    size_t w = fwrite(buf, 1, len, f);
    free(buf);
    if (fclose(f) || w != len) return cli_fail(out, -EIO);
    if (!c->quiet) fprintf(stderr, "wrote the charter of %s to %s: a new network joins with\n"
                                   "  stoa init --network NAME --charter %s\n", store_charter(c->st)->name, out, out);
    return 0;
  }
  bool admit = !strcmp(argv[1], "admit");
  if (admit || !strcmp(argv[1], "remove")) {
    uint8_t key[32], self[32];
    if (argc != 3) { fprintf(stderr, "usage: stoa federation %s NETWORK_KEY\n", argv[1]); return EX_USAGE; }
    if (keys_parse_pub(argv[2], key)) {
      fprintf(stderr, "stoa federation %s: '%s' is not a network key (64 hex digits, as `stoa whoami` prints)\n", argv[1], argv[2]);
      return EX_USAGE;
    }
    if ((x = cli_pub(c, "network", self))) return x;
    if (!memcmp(key, self, 32)) { fprintf(stderr, "stoa federation: that is this network's own key\n"); return EX_USAGE; }
    if ((x = cli_trust_publish(c, admit ? REC_ENDORSE : REC_REVOKE, key, "member"))) return x;
    store_rd *rd;
    bool member = false;
    if (!store_rd_begin(c->st, &rd)) {
      const trust_state *t = store_trust(rd);
      member = t && trust_is_member(t, key, cli_now());
      store_rd_end(rd);
    }
    if (!c->quiet) {
      if (admit) printf(member ? "admitted: the network is a member now.  Send it a bundle (`stoa export -o FILE`).\n"
                               : "vote recorded: the network becomes a member when %u members have endorsed it.\n",
                        store_charter(c->st)->quorum);
      else printf(member ? "vote recorded: the network stops being a member when %u members have revoked it.\n"
                         : "removed: the network is no longer a member.\n", store_charter(c->st)->quorum);
    }
    return 0;
  }
  fprintf(stderr, "stoa federation: unknown subcommand '%s'\n", argv[1]);
  return EX_USAGE;
}

typedef struct mem_ctx { json_t *arr; } mem_ctx;

static int mem_one(void *vctx, const trust_event *ev) {
  mem_ctx *m = vctx;
  char o[65], s[65], t[32];
  keys_pub_hex(ev->owner, o);
  keys_pub_hex(ev->subject, s);
  cli_time(ev->ts, t);
  const char *what = ev->kind == REC_ENDORSE ? "endorsed" : "revoked";
  if (m->arr)
    json_array_append_new(m->arr, json_pack("{s:s, s:s, s:s, s:s, s:s}", "at", t, "by", o, "action", what,
                                            "role", trust_role_name(ev->role), "subject", s));
  else
    printf("%s  %.16s %s %.16s as %s\n", t, o, what, s, trust_role_name(ev->role));
  return 0;
}

int cmd_members(cli *c, int argc, char **argv) {
  store_rd *rd;
  mem_ctx m = { NULL };
  uint8_t members[256][KEY_LEN];
  int x, e;
  (void)argv;
  if (argc != 1) { fprintf(stderr, "usage: stoa members\n"); return EX_USAGE; }
  if ((x = cli_open(c))) return x;
  if ((e = store_rd_begin(c->st, &rd))) return cli_fail("store", e);
  const trust_state *t = store_trust(rd);
  const charter *ch = store_charter(c->st);
  size_t n = t ? trust_members(t, cli_now(), members, 256) : 0;
  if (c->json) {
    json_t *mem = json_array();
    char hex[65];
    for (size_t i = 0; i < n && i < 256; i++) {
      keys_pub_hex(members[i], hex);
      json_array_append_new(mem, json_string(hex));
    }
    m.arr = json_array();
    store_trust_events(rd, mem_one, &m);
    cli_json_out(json_pack("{s:o, s:o}", "members", mem, "events", m.arr));
  } else {
    char hex[65];
    printf("%zu member network(s) of %s (quorum %u):\n", n, ch->name, ch->quorum);
    for (size_t i = 0; i < n && i < 256; i++) {
      bool founder = false;
      for (uint32_t j = 0; j < ch->nfounders; j++) founder |= !memcmp(ch->founders[j], members[i], 32);
      keys_pub_hex(members[i], hex);
      printf("  %s%s\n", hex, founder ? "  (founder)" : "");
    }
    printf("\nwho vouched for whom:\n");
    store_trust_events(rd, mem_one, &m);
  }
  store_rd_end(rd);
  return 0;
}

/*
 * `stoa key rotate --role R`: a new key for this home, endorsed, and the
 * old one revoked (what it signed before stays valid: docs/trust.md).
 * The new key is written as keys/R.new.key first and renamed over
 * keys/R.key only once both trust records are stored, so a failure before
 * leaves the home's key as it was (and a stale R.new.key, replaced by the
 * next rotation).
 */
static int key_rotate(cli *c, const char *role) {
  char name[16], from[4200], to[4200], rel[64], oh[65], nh[65];
  stoa_key net, nk;
  uint8_t old[KEY_LEN];
  int x;
  memset(&nk, 0, sizeof nk);
  if ((x = cli_open(c)) || (x = cli_pub(c, role, old)) || (x = cli_key(c, "network", &net))) return x;
  snprintf(name, sizeof name, "%s.new", role);
  for (int i = 0; i < 2; i++) { /* what an interrupted rotation left */
    snprintf(rel, sizeof rel, "keys/%s.%s", name, i ? "pub" : "key");
    cli_path(c, from, sizeof from, rel);
    if (unlink(from) && errno != ENOENT) { x = cli_fail(from, -errno); goto out; }
  }
  if ((x = cli_make_key(c, name, &nk, NULL, 0, KEYS_KDF_MODERATE))) goto out;
  if ((x = cli_trust_sign(c, &net, REC_ENDORSE, nk.pk, role)) ||
      (x = cli_trust_sign(c, &net, REC_REVOKE, old, role))) {
    fprintf(stderr, "stoa key rotate: the home keeps its %s key; run the rotation again\n", role);
    goto out;
  }
  for (int i = 0; i < 2; i++) {
    const char *ext = i ? "pub" : "key";
    snprintf(rel, sizeof rel, "keys/%s.%s", name, ext);
    cli_path(c, from, sizeof from, rel);
    snprintf(rel, sizeof rel, "keys/%s.%s", role, ext);
    cli_path(c, to, sizeof to, rel);
    if (rename(from, to)) { x = cli_fail(to, -errno); goto out; }
  }
  keys_fsync_dir(to);
  keys_pub_hex(old, oh);
  keys_pub_hex(nk.pk, nh);
  if (c->json) {
    cli_json_out(json_pack("{s:s, s:s, s:s}", "role", role, "new", nh, "old", oh));
  } else if (!c->quiet) {
    printf("new %s key %s (endorsed)\nold %s key %s (revoked: what it signed until now stays valid)\n", role,
           nh, role, oh);
    if (!strcmp(role, "node"))
      printf("A running stoad takes it at its next reload (SIGHUP, systemctl reload stoad):\n"
             "its connections then reconnect with the new key.  Until then peers may refuse the old one.\n");
  }
out:
  keys_wipe(&net);
  keys_wipe(&nk);
  return x;
}

int cmd_key(cli *c, int argc, char **argv) {
  const char *role = NULL, *key = NULL;
  uint8_t k[32];
  bool rotate = argc >= 2 && !strcmp(argv[1], "rotate");
  if (argc < 2 || (strcmp(argv[1], "endorse") && strcmp(argv[1], "revoke") && !rotate)) {
    fprintf(stderr, "usage: stoa key endorse|revoke --role editor|node KEY\n       stoa key rotate --role editor|node\n");
    return EX_USAGE;
  }
  for (int i = 2; i < argc; i++) {
    const char *v;
    if (cli_opt(argc, argv, &i, "--role", &v)) role = v;
    else if (!key && argv[i][0] != '-') key = argv[i];
    else { fprintf(stderr, "stoa key: unexpected '%s'\n", argv[i]); return EX_USAGE; }
  }
  if (!role || (strcmp(role, "editor") && strcmp(role, "node"))) {
    fprintf(stderr, "stoa key: --role editor or --role node is required (members are admitted with `stoa federation admit`)\n");
    return EX_USAGE;
  }
  if (rotate) {
    if (key) { fprintf(stderr, "stoa key rotate: makes its own key; give only --role\n"); return EX_USAGE; }
    return key_rotate(c, role);
  }
  if (!key || keys_parse_pub(key, k)) { fprintf(stderr, "stoa key: give the key as 64 hex digits\n"); return EX_USAGE; }
  int x = cli_trust_publish(c, !strcmp(argv[1], "endorse") ? REC_ENDORSE : REC_REVOKE, k, role);
  if (!x && !c->quiet) printf("%s %s key %.16s\n", !strcmp(argv[1], "endorse") ? "endorsed" : "revoked", role, key);
  return x;
}
