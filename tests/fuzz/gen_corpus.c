/*
 * gen_corpus.c - writes the seed corpus of every fuzz target with the real
 * encoders, so that the fuzzer starts from valid inputs of every kind.
 *
 *   gen_corpus OUTDIR      writes OUTDIR/<target>/seed-<name>
 *
 * Records are signed with the fixed test keys of fuzz.h, and the Noise
 * transcripts are made with the same fixed static and ephemeral keys the
 * targets use, so they complete there.  The committed corpus under
 * tests/fuzz/corpus/ starts from this output (plus what fuzzing found,
 * minimised); run it again after a format change.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/body.h"
#include "cli/keys.h"
#include "proto/bundle.h"
#include "proto/ctl.h"
#include "proto/err.h"
#include "proto/iblt.h"
#include "proto/record.h"
#include "proto/sketch.h"
#include "proto/wire.h"
#include "proto/zip.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_noise.h"

static const char *gen_out;
static uint8_t gen_pk_a[32], gen_sk_a[64], gen_pk_b[32], gen_sk_b[64], gen_fed[32];

#define GEN_OK(x)                                                            \
  do {                                                                       \
    int gen__e = (x);                                                        \
    if (gen__e != 0) {                                                       \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x,            \
              stoa_strerror(gen__e));                                        \
      exit(1);                                                               \
    }                                                                        \
  } while (0)

/* Writes OUTDIR/target/seed-name: an optional prefix byte (< 0 for none)
 * and the bytes. */
static void gen_put(const char *target, const char *name, int prefix, const void *buf, size_t len) {
  char path[4096];
  FILE *f;
  snprintf(path, sizeof path, "%s/%s", gen_out, target);
  if (mkdir(path, 0755) != 0 && errno != EEXIST) { perror(path); exit(1); }
  snprintf(path, sizeof path, "%s/%s/seed-%s", gen_out, target, name);
  if (!(f = fopen(path, "wb"))) { perror(path); exit(1); }
  if (prefix >= 0) fputc(prefix, f);
  if (len && fwrite(buf, 1, len, f) != len) { perror(path); exit(1); }
  if (fclose(f) != 0) { perror(path); exit(1); }
}

/* ---- bodies and records ------------------------------------------------ */

typedef struct gen_rec {
  const char *name;
  int kind;
  body_kv kv[8];
  size_t n;
} gen_rec;

static char gen_ref[2 * EKEY_LEN + 1], gen_key_hex[2 * KEY_LEN + 1];

static size_t gen_body(const gen_rec *g, uint8_t *out, size_t cap) {
  msgpack_sbuffer sb;
  body_error why = { "", "" };
  size_t n;
  msgpack_sbuffer_init(&sb);
  if (body_from_kv(g->kind, g->kv, g->n, NULL, &sb, &why) ||
      schema_check(g->kind, (const uint8_t *)sb.data, sb.size, &why)) {
    fprintf(stderr, "gen_corpus: %s: %s: %s\n", g->name, why.field, why.msg);
    exit(1);
  }
  if (sb.size > cap) exit(1);
  memcpy(out, sb.data, sb.size);
  n = sb.size;
  msgpack_sbuffer_destroy(&sb);
  return n;
}

#define GEN_NREC 8
static uint8_t gen_env[GEN_NREC][REC_MAX];
static size_t gen_env_len[GEN_NREC];

static void gen_records(void) {
  gen_rec g[GEN_NREC] = {
    { "org", REC_ORG, { { "name", "Société d'entraide" }, { "country", "fr" }, { "type", "ngo" },
      { "themes", "integration;labour-rights" }, { "languages", "fr;en" },
      { "website", "https://example.org/a?b#c" }, { "member-of", gen_ref }, { "founded", "1999" } }, 8 },
    { "org-min", REC_ORG, { { "name", "Kalayaan" }, { "country", "PH" }, { "type", "union" },
      { "email", "info@example.ph" }, { "phone", "+63 (2) 555-0100" } }, 5 },
    { "actor", REC_ACTOR, { { "name", "A. Person" }, { "role", "coordinator" }, { "org", gen_ref },
      { "country", "DE" }, { "contact", "a@example.de" }, { "consent", "yes" } }, 6 },
    { "practice", REC_PRACTICE, { { "title", "Pre-departure training" }, { "summary", "What was done\nand how" },
      { "themes", "recruitment" }, { "countries", "PH;SA" }, { "orgs", gen_ref }, { "period", "2009-" },
      { "evidence", "http://example.net/report.pdf" }, { "status", "ongoing" } }, 8 },
    { "endorse", REC_ENDORSE, { { "subject", gen_key_hex }, { "role", "editor" }, { "note", "staff" } }, 3 },
    { "revoke", REC_REVOKE, { { "subject", gen_key_hex }, { "role", "member" } }, 2 },
    { "erase", REC_ERASE, { { "target", gen_ref }, { "until", "2026-01-02T03:04:05.678Z" },
      { "reason", "request of the person" } }, 3 },
    { "peer", REC_PEER, { { "node", gen_key_hex }, { "addrs", "stoa.example.org:7700;10.0.0.1:7700" },
      { "hub", "true" } }, 3 },
  };
  uint8_t body[REC_MAX], id[ID_LEN], stub[REC_MAX];
  size_t blen, slen;
  rec r;
  for (int i = 0; i < GEN_NREC; i++) {
    blen = gen_body(&g[i], body, sizeof body);
    memset(id, i + 1, sizeof id);
    GEN_OK(rec_build(g[i].kind, gen_pk_a, id, 1700000000000ull + (uint64_t)i, gen_sk_a, body, blen,
                     gen_fed, gen_env[i], sizeof gen_env[i], &gen_env_len[i]));
    gen_put("record", g[i].name, 0x00, gen_env[i], gen_env_len[i]);
    char nm[64];
    snprintf(nm, sizeof nm, "body-%s", g[i].name);
    gen_put("record", nm, (g[i].kind << 1) | 1, body, blen);
    snprintf(nm, sizeof nm, "body-%s", g[i].name);
    gen_put("json", nm, 0x80 | g[i].kind, body, blen);
  }
  GEN_OK(rec_decode(gen_env[0], gen_env_len[0], &r));
  GEN_OK(rec_stub(&r, stub, sizeof stub, &slen));
  gen_put("record", "stub", 0x00, stub, slen);
}

/* ---- wire ---------------------------------------------------------------- */

static void gen_wire(void) {
  static uint8_t out[WIRE_MSG_MAX], syms[1024];
  uint8_t hashes[3 * HASH_LEN];
  size_t n, at = 0, k;
  iblt_sym s[8];
  uint8_t items[4][IBLT_ITEM_LEN];

  wire_hello h = { .version = WIRE_VERSION, .caps = WCAP_PUSH, .node = gen_pk_a, .network = gen_pk_b,
                   .nproofs = 2, .set_size = 12345, .agent = "stoad/0.1.0", .agent_len = 11 };
  h.proof[0] = gen_env[4], h.proof_len[0] = (uint32_t)gen_env_len[4];
  h.proof[1] = gen_env[7], h.proof_len[1] = (uint32_t)gen_env_len[7];
  GEN_OK(wire_encode_hello(&h, out, sizeof out, &n));
  gen_put("wire", "hello", 0x80, out, n);

  for (int i = 0; i < 4; i++) memset(items[i], 0x10 * (i + 1), IBLT_ITEM_LEN);
  iblt_symbols_compute(s, 0, 8, &items[0][0], 4);
  for (int i = 0; i < 8; i++) {
    GEN_OK(iblt_sym_encode(&s[i], syms + at, sizeof syms - at, &k));
    at += k;
  }
  wire_sync sy = { .session = 7, .first = 0, .syms = syms, .syms_len = (uint32_t)at, .set_size = 4 };
  GEN_OK(wire_encode_sync(&sy, out, sizeof out, &n));
  gen_put("wire", "sync", 0x80, out, n);
  wire_more mo = { 7, 8 };
  GEN_OK(wire_encode_more(&mo, out, sizeof out, &n));
  gen_put("wire", "more", 0x80, out, n);
  wire_done dn = { 7, 0, 3, 2 };
  GEN_OK(wire_encode_done(&dn, out, sizeof out, &n));
  gen_put("wire", "done", 0x80, out, n);
  for (size_t i = 0; i < sizeof hashes; i++) hashes[i] = (uint8_t)i;
  GEN_OK(wire_encode_want(hashes, 3, out, sizeof out, &n));
  gen_put("wire", "want", 0x80, out, n);
  GEN_OK(wire_encode_hashes(W_OFFER, hashes, 2, out, sizeof out, &n));
  gen_put("wire", "offer", 0x80, out, n);
  GEN_OK(wire_encode_hashes(W_ANNOUNCE, hashes, 2, out, sizeof out, &n));
  gen_put("wire", "announce", 0x80, out, n);
  GEN_OK(wire_encode_zip(300, hashes, 40, out, sizeof out, &n));
  gen_put("wire", "zip", 0x80, out, n);
  GEN_OK(wire_encode_list(&(wire_list){ 7, hashes, 2, 1 }, out, sizeof out, &n));
  gen_put("wire", "list", 0x80, out, n);
  const uint8_t *recs[3] = { gen_env[0], gen_env[2], gen_env[6] };
  size_t lens[3] = { gen_env_len[0], gen_env_len[2], gen_env_len[6] };
  GEN_OK(wire_encode_records(recs, lens, 3, out, sizeof out, &n));
  gen_put("wire", "records", 0x80, out, n);
  GEN_OK(wire_encode_ack(&(wire_ack){ 1000, 65536 }, out, sizeof out, &n));
  gen_put("wire", "ack", 0x80, out, n);
  GEN_OK(wire_encode_u64(W_PING, 0x0123456789abcdefull, out, sizeof out, &n));
  gen_put("wire", "ping", 0x80, out, n);
  GEN_OK(wire_encode_u64(W_PONG, 42, out, sizeof out, &n));
  gen_put("wire", "pong", 0x80, out, n);
  GEN_OK(wire_encode_error(WERR_UNTRUSTED, "node key is not endorsed", out, sizeof out, &n));
  gen_put("wire", "error", 0x80, out, n);
  /* The synthesised form: type byte, then the elements. */
  gen_put("wire", "made-ping", 0x08, "\x07", 1);
  gen_put("wire", "made-more", 0x03, "\x01\x02", 2);
}

/* ---- control requests ------------------------------------------------- */

static void gen_ctl(void) {
  uint8_t out[CTL_ARG_MAX + 64];
  size_t n;
  for (int c = CTL_STATUS; ctl_cmd_name(c); c++) {
    ctl_req r = { .cmd = c };
    if (c == CTL_PEER_ADD || c == CTL_PEER_REMOVE || c == CTL_SYNC) {
      r.arg = "hub.example.org:7700";
      r.arg_len = 20;
    }
    GEN_OK(ctl_req_encode(&r, out, sizeof out, &n));
    gen_put("ctl", ctl_cmd_name(c), -1, out, n);
  }
}

/* ---- Noise ------------------------------------------------------------- */

static size_t gen_chunk(uint8_t *dst, const uint8_t *src, size_t n) {
  dst[0] = (uint8_t)(n >> 8);
  dst[1] = (uint8_t)n;
  memcpy(dst + 2, src, n);
  return n + 2;
}

static void gen_noise(void) {
  static uint8_t m1[NOISE_MAX_MSG], m2[NOISE_MAX_MSG], m3[NOISE_MAX_MSG];
  static uint8_t fi[4 * NOISE_MAX_MSG], fr[4 * NOISE_MAX_MSG], pt[WIRE_MSG_MAX], ct[NOISE_MAX_MSG];
  uint8_t payload[FUZZ_HS_PAYLOAD];
  size_t n1, n2, n3, pl, ni = 0, nr = 0, n, cn;
  noise_hs i, r;
  noise_cs itx, irx, rtx, rrx;

  fuzz_noise_start(&i, true);
  fuzz_noise_start(&r, false);
  GEN_OK(noise_hs_write(&i, NULL, 0, m1, sizeof m1, &n1));
  GEN_OK(noise_hs_read(&r, m1, n1, payload, sizeof payload, &pl));
  GEN_OK(noise_hs_write(&r, NULL, 0, m2, sizeof m2, &n2));
  GEN_OK(noise_hs_read(&i, m2, n2, payload, sizeof payload, &pl));
  GEN_OK(noise_hs_write(&i, NULL, 0, m3, sizeof m3, &n3));
  GEN_OK(noise_hs_read(&r, m3, n3, payload, sizeof payload, &pl));
  GEN_OK(noise_hs_split(&i, &itx, &irx));
  GEN_OK(noise_hs_split(&r, &rtx, &rrx));

  /* Initiator's input: msg 2, then frames from the responder. */
  ni += gen_chunk(fi + ni, m2, n2);
  nr += gen_chunk(fr + nr, m1, n1);
  nr += gen_chunk(fr + nr, m3, n3);
  gen_put("noise_init", "msg2", -1, fi, ni);
  gen_put("noise_resp", "msg1", -1, fr, n1 + 2);
  gen_put("noise_resp", "msg1-msg3", -1, fr, nr);
  wire_hello h = { .version = WIRE_VERSION, .caps = WCAP_PUSH, .node = gen_pk_a, .network = gen_pk_b,
                   .set_size = 3, .agent = "stoad", .agent_len = 5 };
  GEN_OK(wire_encode_hello(&h, pt, sizeof pt, &n));
  GEN_OK(noise_cs_encrypt(&rtx, NULL, 0, pt, n, ct, sizeof ct, &cn));
  ni += gen_chunk(fi + ni, ct, cn);
  GEN_OK(noise_cs_encrypt(&itx, NULL, 0, pt, n, ct, sizeof ct, &cn));
  nr += gen_chunk(fr + nr, ct, cn);
  GEN_OK(wire_encode_u64(W_PING, 99, pt, sizeof pt, &n));
  GEN_OK(noise_cs_encrypt(&rtx, NULL, 0, pt, n, ct, sizeof ct, &cn));
  ni += gen_chunk(fi + ni, ct, cn);
  GEN_OK(noise_cs_encrypt(&itx, NULL, 0, pt, n, ct, sizeof ct, &cn));
  nr += gen_chunk(fr + nr, ct, cn);
  gen_put("noise_init", "msg2-frames", -1, fi, ni);
  gen_put("noise_resp", "msg1-msg3-frames", -1, fr, nr);
  noise_hs_wipe(&i);
  noise_hs_wipe(&r);
}

/* ---- IBLT ---------------------------------------------------------------- */

static void gen_iblt(void) {
  static iblt_sym s[64];
  uint8_t items[12][IBLT_ITEM_LEN], buf[64 * IBLT_SYM_MAX + 1], honest[1 + 8 * 6];
  size_t at = 0, k;
  /* The local set of fuzz_iblt.c is BLAKE2b(i) for i < 8; the remote holds
   * five of them and seven of its own. */
  for (uint8_t i = 0; i < 12; i++) {
    if (i < 5) crypto_generichash(items[i], IBLT_ITEM_LEN, &i, 1, NULL, 0);
    else memset(items[i], 0x40 + i, IBLT_ITEM_LEN);
  }
  iblt_symbols_compute(s, 0, 64, &items[0][0], 12);
  buf[at++] = 0x00;
  for (int i = 0; i < 64; i++) {
    GEN_OK(iblt_sym_encode(&s[i], buf + at, sizeof buf - at, &k));
    at += k;
  }
  gen_put("iblt", "stream", -1, buf, at);
  honest[0] = 0x01;
  honest[1] = 0x5a;
  for (size_t i = 2; i < sizeof honest; i++) honest[i] = (uint8_t)(i * 37);
  gen_put("iblt", "honest", -1, honest, sizeof honest);
}

/* ---- bundles ------------------------------------------------------------ */

typedef struct gen_buf {
  uint8_t *p;
  size_t n, cap;
} gen_buf;

static int gen_buf_write(void *ctx, const void *buf, size_t len) {
  gen_buf *b = ctx;
  if (len > b->cap - b->n) return STOA_ETOOBIG;
  memcpy(b->p + b->n, buf, len);
  b->n += len;
  return 0;
}

static void gen_bundle(void) {
  static uint8_t mem[8 * REC_MAX];
  gen_buf b = { mem, 0, sizeof mem };
  bundle_hdr h = { .created = 1700000000000ull, .part = 1, .parts = 1 };
  bundle_writer w;
  memcpy(h.fed, gen_fed, 32);
  GEN_OK(bundle_writer_init(&w, &h, gen_buf_write, &b));
  GEN_OK(bundle_writer_finish(&w));
  gen_put("bundle", "empty", -1, mem, b.n);
  b.n = 0;
  GEN_OK(bundle_writer_init(&w, &h, gen_buf_write, &b));
  for (int i = 0; i < GEN_NREC; i++) GEN_OK(bundle_writer_add(&w, gen_env[i], gen_env_len[i]));
  GEN_OK(bundle_writer_finish(&w));
  gen_put("bundle", "all-kinds", -1, mem, b.n);
}

/* ---- sketches ------------------------------------------------------------ */

static void gen_sketch(void) {
  static uint8_t mem[1 << 16];
  static iblt_sym s[128];
  uint8_t items[12][IBLT_ITEM_LEN];
  gen_buf b = { mem + 1, 0, sizeof mem - 1 };
  sketch_hdr h = { .created = 1700000000000ull, .n = 12, .k = 128 };
  uint64_t bytes;
  /* Five of the local items of fuzz_sketch.c and seven others. */
  for (uint8_t i = 0; i < 12; i++) {
    if (i < 5) crypto_generichash(items[i], IBLT_ITEM_LEN, &i, 1, NULL, 0);
    else memset(items[i], 0x40 + i, IBLT_ITEM_LEN);
  }
  memcpy(h.fed, gen_fed, 32);
  iblt_symbols_compute(s, 0, 128, &items[0][0], 12);
  GEN_OK(sketch_write(&h, s, gen_buf_write, &b, &bytes));
  gen_put("sketch", "file", 0x00, mem + 1, b.n);
  gen_put("sketch", "file-fixsum", 0x01, mem + 1, b.n);
  static const uint8_t honest[] = { 0x3c, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
  gen_put("sketch", "honest", 0x02, honest, sizeof honest);
}

/* ---- zstd streams -------------------------------------------------------- */

static void gen_zip(void) {
  static uint8_t in[3][512], z[WIRE_FRAME_MAX], file[8192], rt[2048];
  size_t at = 1, rn = 1, zlen;
  zip_tx *tx;
  GEN_OK(zip_tx_new(&tx, 3));
  /* Three records' worth of text; the later ones refer to the first. */
  for (int i = 0; i < 3; i++) {
    size_t n = (size_t)snprintf((char *)in[i], sizeof in[i],
                                "{\"name\": \"Network %d\", \"country\": \"PH\", \"type\": \"ngo\", "
                                "\"themes\": [\"recruitment\", \"labour-rights\"]}", i);
    GEN_OK(zip_tx_msg(tx, in[i], n, z, sizeof z, &zlen));
    file[at++] = (uint8_t)(n >> 8), file[at++] = (uint8_t)n;
    file[at++] = (uint8_t)(zlen >> 8), file[at++] = (uint8_t)zlen;
    memcpy(file + at, z, zlen);
    at += zlen;
    rt[rn++] = (uint8_t)(n >> 8), rt[rn++] = (uint8_t)n;
    memcpy(rt + rn, in[i], n);
    rn += n;
  }
  zip_tx_free(tx);
  file[0] = 0x00;
  gen_put("zip", "stream", -1, file, at);
  rt[0] = 0x05;
  gen_put("zip", "roundtrip", -1, rt, rn);
}

/* ---- JSON and CSV ------------------------------------------------------ */

static void gen_text(void) {
  char buf[4096];
  snprintf(buf, sizeof buf,
           "{\"name\": \"Société d'entraide\", \"country\": \"fr\", \"type\": \"ngo\", "
           "\"themes\": [\"integration\", \"labour-rights\"], \"languages\": \"fr;en\", "
           "\"founded\": 1999, \"member_of\": [\"%s\", \"0a1b\"], \"website\": \"https://example.org\", "
           "\"extra\": {\"a\": [1, 2.5, null, true, \"x\"]}, \"id\": \"0011\"}\n", gen_ref);
  gen_put("json", "org", 0, buf, strlen(buf));
  snprintf(buf, sizeof buf,
           "[{\"kind\": \"actor\", \"name\": \"A. Person\", \"org\": \"%s\", \"consent\": true, "
           "\"contact\": \"a@example.de\", \"themes\": \"gender\"},\n"
           " {\"kind\": \"practice\", \"title\": \"Training\", \"summary\": \"s\", \"themes\": [\"recruitment\"], "
           "\"countries\": [\"PH\", \"sa\"], \"period\": \"2001-2005\", \"status\": \"completed\", "
           "\"evidence\": [\"http://example.net/r\"]}]",
           gen_ref);
  gen_put("json", "array", 0, buf, strlen(buf));
  snprintf(buf, sizeof buf,
           "{\"name\": \"One\", \"country\": \"XK\"}\n"
           "not json\n"
           "\n"
           "{\"name\": \"Two\", \"role\": \"chair\", \"org\": \"12ab\", \"consent\": \"no\"}\n");
  gen_put("json", "lines", 1, buf, strlen(buf));

  snprintf(buf, sizeof buf,
           "\xef\xbb\xbfid,name,country,type,themes,languages,founded,member_of,description\r\n"
           "0011,\"Société, d'entraide\",fr,ngo,integration;gender,fr;en-GB,1999,%s,\"line one\r\nline \"\"two\"\"\"\r\n"
           ",Kalayaan,PH,union,,,,0a1b,\r\n"
           ",,,,,,\r\n",
           gen_ref);
  gen_put("csv", "org", 0, buf, strlen(buf));
  snprintf(buf, sizeof buf, "name,role,org,country,consent,contact\nA. Person,chair,%s,de,yes,a@example.de\n"
                            "B,,ffff,,no,\n", gen_ref);
  gen_put("csv", "actor", 1, buf, strlen(buf));
  snprintf(buf, sizeof buf, "title,summary,themes,countries,period,status,worked,failed,evidence\r"
                            "T,S,recruitment;trafficking,PH;QA,2010-2012,completed,w,f,https://example.org/x\r");
  gen_put("csv", "practice", 2, buf, strlen(buf));
}

/* ---- key files ---------------------------------------------------------- */

static void gen_keyfile(void) {
  uint8_t f[KEYS_FILE_PROTECTED_LEN], key[crypto_secretbox_KEYBYTES];
  uint8_t seed[32];
  char pub[KEYS_PUB_HEX_LEN + 1], line[128];
  memset(seed, FUZZ_SEED_A, sizeof seed);
  memcpy(f, "STOAKEY1", 8);
  f[8] = 0;
  f[9] = 0;
  memcpy(f + 10, seed, 32);
  gen_put("keyfile", "plain", -1, f, KEYS_FILE_PLAIN_LEN);
  /* Protected with the cheapest limits Argon2id allows (1 pass, 8 KiB),
   * passphrase "fuzz", as fuzz_keyfile.c tries. */
  f[8] = 1;
  memset(f + 10, 0x77, 16);
  for (int i = 0; i < 8; i++) f[26 + i] = (uint8_t)(1ull >> (56 - 8 * i));
  for (int i = 0; i < 8; i++) f[34 + i] = (uint8_t)(8192ull >> (56 - 8 * i));
  memset(f + 42, 0x99, 24);
  if (crypto_pwhash(key, sizeof key, "fuzz", 4, f + 10, 1, 8192, crypto_pwhash_ALG_ARGON2ID13) != 0) exit(1);
  crypto_secretbox_easy(f + 66, seed, 32, f + 42, key);
  gen_put("keyfile", "protected-cheap", -1, f, sizeof f);
  /* The MODERATE limits (3 passes, 256 MiB): read without a passphrase. */
  f[26 + 7] = 3;
  for (int i = 0; i < 8; i++) f[34 + i] = (uint8_t)((256ull << 20) >> (56 - 8 * i));
  gen_put("keyfile", "protected-moderate", -1, f, sizeof f);
  sodium_bin2hex(pub, sizeof pub, gen_pk_a, 32);
  snprintf(line, sizeof line, "%s network key of Example\n", pub);
  gen_put("keyfile", "pub", -1, line, strlen(line));
  snprintf(line, sizeof line, "  stoa:%s  ", pub);
  gen_put("keyfile", "pub-typed", -1, line, strlen(line));
  gen_put("keyfile", "passphrase", -1, "correct horse battery staple\r\nrest", 35);
  sodium_memzero(key, sizeof key);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
    return 2;
  }
  gen_out = argv[1];
  if (mkdir(gen_out, 0755) != 0 && errno != EEXIST) { perror(gen_out); return 1; }
  fuzz_sodium();
  fuzz_key(FUZZ_SEED_A, gen_pk_a, gen_sk_a);
  fuzz_key(FUZZ_SEED_B, gen_pk_b, gen_sk_b);
  fuzz_fed(gen_fed);
  sodium_bin2hex(gen_key_hex, sizeof gen_key_hex, gen_pk_b, 32);
  {
    uint8_t ek[EKEY_LEN];
    memcpy(ek, gen_pk_b, 32);
    memset(ek + 32, 0x0c, ID_LEN);
    sodium_bin2hex(gen_ref, sizeof gen_ref, ek, EKEY_LEN);
  }
  gen_records();
  gen_wire();
  gen_ctl();
  gen_noise();
  gen_iblt();
  gen_bundle();
  gen_sketch();
  gen_zip();
  gen_text();
  gen_keyfile();
  printf("seeds written to %s\n", gen_out);
  return 0;
}
