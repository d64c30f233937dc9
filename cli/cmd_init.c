/*
 * cmd_init.c - `stoa init` and `stoa whoami`.
 */
#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "cli/cli.h"
#include "proto/err.h"
#include "proto/trust.h"

int cli_trust_sign(cli *c, const stoa_key *net, int kind, const uint8_t subject[32], const char *role) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  uint8_t id[ID_LEN];
  int r;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 2);
  msgpack_pack_str_with_body(&pk, "subject", 7);
  msgpack_pack_bin_with_body(&pk, subject, 32);
  msgpack_pack_str_with_body(&pk, "role", 4);
  msgpack_pack_str_with_body(&pk, role, strlen(role));
  randombytes_buf(id, sizeof id);
  r = cli_publish(c, kind, id, (const uint8_t *)sb.data, sb.size, net, NULL, NULL);
  msgpack_sbuffer_destroy(&sb);
  return r;
}

int cli_trust_publish(cli *c, int kind, const uint8_t subject[32], const char *role) {
  stoa_key net;
  int r;
  if ((r = cli_open(c)) || (r = cli_key(c, "network", &net))) return r;
  r = cli_trust_sign(c, &net, kind, subject, role);
  keys_wipe(&net);
  return r;
}

int cli_make_key(cli *c, const char *name, stoa_key *k, const char *pass, size_t plen, int strength) {
  char p[4200], rel[64], comment[300];
  uint8_t seed[32];
  int e;
  randombytes_buf(seed, sizeof seed);
  keys_from_seed(seed, k);
  snprintf(rel, sizeof rel, "keys/%s.key", name);
  cli_path(c, p, sizeof p, rel);
  e = keys_write(p, seed, pass, plen, strength);
  sodium_memzero(seed, sizeof seed);
  if (e) return cli_fail(p, e);
  snprintf(rel, sizeof rel, "keys/%s.pub", name);
  cli_path(c, p, sizeof p, rel);
  snprintf(comment, sizeof comment, "stoa %s key", name);
  if ((e = keys_pub_write(p, k->pk, comment))) return cli_fail(p, e);
  return 0;
}

int cmd_init(cli *c, int argc, char **argv) {
  const char *network = NULL, *country = NULL, *charter_file = NULL, *fedname = NULL;
  bool nopass = false;
  int strength = KEYS_KDF_MODERATE;
  char p[4200], pass[1024];
  size_t plen = 0;
  stoa_key net, ed, node;
  uint8_t *cbuf = NULL;
  size_t clen = 0;
  int r = 0, e;

  memset(&net, 0, sizeof net);
  memset(&ed, 0, sizeof ed);
  memset(&node, 0, sizeof node);
  for (int i = 1; i < argc; i++) {
    const char *v;
    if (cli_opt(argc, argv, &i, "--network", &v)) network = v;
    else if (cli_opt(argc, argv, &i, "--country", &v)) country = v;
    else if (cli_opt(argc, argv, &i, "--charter", &v)) charter_file = v;
    else if (cli_opt(argc, argv, &i, "--federation", &v)) fedname = v;
    else if (cli_flag(argv, i, "--no-passphrase")) nopass = true;
    else if (cli_flag(argv, i, "--fast-kdf")) strength = KEYS_KDF_INTERACTIVE;
    else { fprintf(stderr, "stoa init: unknown argument %s\n", argv[i]); return EX_USAGE; }
  }
  if (!network || !*network) {
    fprintf(stderr, "stoa init: --network NAME is required\n");
    return EX_USAGE;
  }
  if (country && !schema_country_valid(country, strlen(country))) {
    fprintf(stderr, "stoa init: --country: '%s' is not an ISO 3166-1 alpha-2 code (e.g. FR)\n", country);
    return EX_INVALID;
  }
  cli_path(c, p, sizeof p, "keys");
  if (access(p, F_OK) == 0) {
    fprintf(stderr, "stoa init: %s already holds a node (remove it or give another --home)\n", c->home);
    return EX_USAGE;
  }
  if (charter_file) {
    charter ch;
    if ((e = cli_read_file(charter_file, CHARTER_MAX, &cbuf, &clen)))
      return cli_fail(charter_file, e);
    if ((e = charter_decode(cbuf, clen, &ch))) {
      free(cbuf);
      fprintf(stderr, "stoa init: %s is not a valid charter: %s\n", charter_file, stoa_strerror(e));
      return cli_exit_for(e);
    }
  }
  if (!nopass) {
    if (c->pass_file) e = keys_pass_from_file(c->pass_file, pass, sizeof pass, &plen);
    else e = keys_pass_from_tty("Passphrase for the new network key: ", true, pass, sizeof pass, &plen);
    if (e == -ENXIO) {
      fprintf(stderr, "stoa init: no terminal to ask for a passphrase: give --passphrase-file FILE or --no-passphrase\n");
      r = EX_USAGE;
      goto out;
    }
    if (e) { r = cli_fail("passphrase", e); goto out; }
  }
  if ((e = cli_mkdirs(c->home))) { r = cli_fail(c->home, e); goto out; }
  cli_path(c, p, sizeof p, "keys");
  if (mkdir(p, 0700)) { r = cli_fail(p, -errno); goto out; }
  if ((r = cli_make_key(c, "network", &net, nopass ? NULL : pass, plen, strength)) ||
      (r = cli_make_key(c, "editor", &ed, NULL, 0, strength)) ||
      (r = cli_make_key(c, "node", &node, NULL, 0, strength)))
    goto out;
  cli_path(c, p, sizeof p, "store");
  if ((e = store_open(&c->st, p, NULL))) { r = cli_fail(p, e); goto out; }
  if (!cbuf) {
    char name[CHARTER_NAME_MAX + 1];
    uint8_t sks[1][64];
    snprintf(name, sizeof name, "%s", fedname ? fedname : network);
    memcpy(sks[0], net.sk, 64);
    cbuf = malloc(CHARTER_MAX);
    e = cbuf ? charter_build(name, 1, (const uint8_t (*)[64])sks, 1, cli_now(), cbuf, CHARTER_MAX, &clen)
             : STOA_ENOMEM;
    sodium_memzero(sks, sizeof sks);
    if (e) { r = cli_fail("charter", e); goto out; }
  }
  if ((e = store_set_charter(c->st, cbuf, clen))) { r = cli_fail("charter", e); goto out; }
  cli_path(c, p, sizeof p, "charter.stoa");
  if ((e = cli_write_file(p, cbuf, clen, 0644))) { r = cli_fail(p, e); goto out; }
  {
    char cfg[2048];
    int n = snprintf(cfg, sizeof cfg,
                     "# Stoa node configuration (docs/config.md)\n[node]\nnetwork = %s\n%s%s%s"
                     "listen = 0.0.0.0:7420\n\n[peers]\n# name = host:port\n",
                     network, country ? "country = " : "", country ? country : "", country ? "\n" : "");
    cli_path(c, p, sizeof p, "stoa.ini");
    if ((e = cli_write_file(p, cfg, (size_t)n, 0644))) { r = cli_fail(p, e); goto out; }
  }
  bool quiet = c->quiet;
  c->quiet = true; /* pending notes come once, below */
  if ((r = cli_trust_sign(c, &net, REC_ENDORSE, ed.pk, "editor")) ||
      (r = cli_trust_sign(c, &net, REC_ENDORSE, node.pk, "node")))
    goto out;
  if (country) {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    uint8_t id[ID_LEN];
    char cc[3] = { (char)(country[0] & ~0x20), (char)(country[1] & ~0x20), 0 };
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str_with_body(&pk, "name", 4);
    msgpack_pack_str_with_body(&pk, network, strlen(network));
    msgpack_pack_str_with_body(&pk, "country", 7);
    msgpack_pack_str_with_body(&pk, cc, 2);
    msgpack_pack_str_with_body(&pk, "type", 4);
    msgpack_pack_str_with_body(&pk, "network", 7);
    randombytes_buf(id, sizeof id);
    r = cli_publish(c, REC_ORG, id, (const uint8_t *)sb.data, sb.size, &ed, NULL, NULL);
    msgpack_sbuffer_destroy(&sb);
    if (r) goto out;
  }
  c->quiet = quiet;
  {
    char hex[65], fid[65];
    const charter *ch = store_charter(c->st);
    keys_pub_hex(net.pk, hex);
    cli_hex(ch->id, HASH_LEN, fid);
    bool member = false;
    for (uint32_t i = 0; i < ch->nfounders; i++) member |= !memcmp(ch->founders[i], net.pk, 32);
    if (c->json) {
      json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:b}", "home", c->home, "network_key", hex,
                            "federation", fid, "federation_name", ch->name, "member", member);
      cli_json_out(j);
    } else if (!c->quiet) {
      printf("Initialised %s in %s\n  network key: %s\n  federation:  %s (%s)\n", network, c->home,
             hex, ch->name, fid);
      if (!member)
        printf("\nThis network is not yet a member.  Send its key to a member network, which runs\n"
               "  stoa federation admit %s\nand sends you back a bundle to `stoa import`.\n", hex);
    }
  }
out:
  sodium_memzero(pass, sizeof pass);
  keys_wipe(&net);
  keys_wipe(&ed);
  keys_wipe(&node);
  free(cbuf);
  return r;
}

int cmd_whoami(cli *c, int argc, char **argv) {
  uint8_t net[32], ed[32], node[32];
  char hn[65], he[65], hd[65], fid[65];
  store_rd *rd;
  int r, e;
  (void)argc; (void)argv;
  if ((r = cli_open(c)) || (r = cli_pub(c, "network", net)) || (r = cli_pub(c, "editor", ed)) ||
      (r = cli_pub(c, "node", node)))
    return r;
  const charter *ch = store_charter(c->st);
  if ((e = store_rd_begin(c->st, &rd))) return cli_fail("store", e);
  const trust_state *t = store_trust(rd);
  uint64_t now = cli_now();
  bool member = t && trust_is_member(t, net, now);
  bool ed_ok = t && trust_key_valid(t, net, ed, TRUST_EDITOR, now);
  store_rd_end(rd);
  keys_pub_hex(net, hn);
  keys_pub_hex(ed, he);
  keys_pub_hex(node, hd);
  cli_hex(ch->id, HASH_LEN, fid);
  if (c->json) {
    cli_json_out(json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b}", "home", c->home, "network_key", hn,
                           "editor_key", he, "node_key", hd, "federation", fid, "federation_name",
                           ch->name, "member", member, "editor_endorsed", ed_ok));
    return 0;
  }
  printf("home:        %s\nnetwork key: %s%s\neditor key:  %s%s\nnode key:    %s\n"
         "federation:  %s (%s)\n",
         c->home, hn, member ? "  (member)" : "  (not yet a member)", he,
         ed_ok ? "" : "  (not yet endorsed)", hd, ch->name, fid);
  return 0;
}
