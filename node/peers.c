/*
 * peers.c - signed peer records, the address book, and hub mode
 * (docs/hubs.md).
 *
 * A node announces where it can be reached in a `peer` record (kind
 * REC_PEER) that it signs with its node key for its network; the record
 * travels like any other.  Every node learns addresses from the peer
 * records it accepts (peers_learn is called for every record the daemon
 * follows, so the book is rebuilt from the store at each start) into a
 * bounded address book, and dials from it up to [node] max_outgoing
 * connections, configured peers included.  Each address keeps a history
 * (syncs, failures since the last success, when to try again): a pick is
 * random, weighted towards addresses that synced before and towards hubs,
 * and a failing address backs off from 30 s to an hour.  The history is
 * saved to HOME/peers.book, so that it survives a restart.
 *
 * Costs: the book is a flat array scanned linearly (at most [node]
 * address_book entries, 1,024 by default); a scan runs when a peer record
 * arrives and once a second while outgoing room is left.
 */
#include <errno.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node/node.h"
#include "proto/err.h"
#include "proto/mp.h"
#include "proto/trust.h"

#define BOOK_FILE "peers.book"
#define BACKOFF_MIN_MS 30000u              /* first retry of a failed address */
#define BACKOFF_MAX_MS 3600000u            /* at most an hour between tries */
#define REDIAL_MS 15000u                   /* after a good connection closed */
#define REFRESH_MS (7ull * 24 * 3600 * 1000) /* our record is re-signed weekly */
#define STALE_MS (21ull * 24 * 3600 * 1000)  /* three missed refreshes */
#define SAVE_EVERY_MS 10000u
#define ANNOUNCE_CHECK_MS 3600000u         /* is our record a week old? hourly */
#define PEER_ID_DOMAIN "stoa peer entry v1"

typedef struct book_ent {
  char addr[NODE_ADDR_MAX];
  uint8_t node[KEY_LEN];                /* announced, or what HELLO showed */
  uint64_t ts;                          /* the announcing record's timestamp */
  bool hub;
  bool self;                            /* we reached ourselves there */
  bool confirmed;                       /* a record in the store names it */
  uint32_t syncs;                       /* connections that finished a sync */
  uint32_t fails;                       /* failures since the last success */
  uint64_t last_ok_ms, last_fail_ms, next_try_ms;
} book_ent;

struct peers_book {
  book_ent *e;
  size_t n, cap;
  bool dirty;
  bool pruned;                          /* entries of the file no record names: dropped */
  uint64_t saved_ms;
  uint64_t refused;                     /* addresses not taken: book full */
  /* our own record, as the store holds it */
  bool self_seen;
  uint64_t self_ts;
  uint8_t self_body[HASH_LEN];
  uint8_t announced[HASH_LEN];          /* the body we signed in this run */
  bool announced_set;
  uint64_t checked_ms;                  /* last peers_announce */
};

/* ---- the book ------------------------------------------------------------------ */

static book_ent *book_find(struct peers_book *b, const char *addr) {
  for (size_t i = 0; i < b->n; i++)
    if (!strcmp(b->e[i].addr, addr)) return &b->e[i];
  return NULL;
}

static void book_del(struct peers_book *b, size_t i) {
  b->e[i] = b->e[--b->n];
  b->dirty = true;
}

/* What an entry is worth keeping: synced before, and not failing now. */
static int keep_score(const book_ent *e) { return (e->syncs ? 2 : 0) + (e->fails == 0 ? 1 : 0); }

/* A slot for a new address announced at `ts`: a free one, or the least
 * useful entry when that one is worth less than a fresh address (never
 * one that synced and still works).  NULL when the book keeps what it has. */
static book_ent *book_take(struct peers_book *b, uint64_t ts) {
  if (b->n < b->cap) {
    memset(&b->e[b->n], 0, sizeof b->e[0]);
    return &b->e[b->n++];
  }
  size_t worst = 0;
  for (size_t i = 1; i < b->n; i++) {
    int a = keep_score(&b->e[i]), w = keep_score(&b->e[worst]);
    if (a < w || (a == w && b->e[i].ts < b->e[worst].ts)) worst = i;
  }
  book_ent *e = &b->e[worst];
  if (keep_score(e) > 1 || (keep_score(e) == 1 && e->ts >= ts)) {
    b->refused++;
    return NULL;
  }
  memset(e, 0, sizeof *e);
  return e;
}

static bool is_announced(const node *n, const char *addr) {
  for (int i = 0; i < n->cfg.nannounce; i++)
    if (!strcmp(n->cfg.announce[i], addr)) return true;
  return !strcmp(n->cfg.listen, addr);
}

/* ---- peer record bodies -------------------------------------------------------- */

typedef struct peer_body {
  const uint8_t *node;
  char addrs[CONFIG_ANNOUNCE_MAX][NODE_ADDR_MAX];
  int naddrs;
  bool hub;
} peer_body;

/* Reads a peer record's body {node, addrs, hub}.  The store has checked
 * its schema, but the bytes came from a peer: every length is checked
 * again, and an address we could not dial is left out.  0 or a code. */
static int body_parse(const uint8_t *buf, size_t len, peer_body *pb) {
  mp_reader rd;
  uint32_t nk, na, kl, sl;
  const char *k, *s;
  int e;
  memset(pb, 0, sizeof *pb);
  mp_reader_init(&rd, buf, len);
  if ((e = mp_read_map(&rd, &nk))) return e;
  for (uint32_t i = 0; i < nk; i++) {
    if ((e = mp_read_str(&rd, &k, &kl))) return e;
    if (kl == 4 && !memcmp(k, "node", 4)) {
      if ((e = mp_read_binn(&rd, &pb->node, KEY_LEN))) return e;
    } else if (kl == 5 && !memcmp(k, "addrs", 5)) {
      if ((e = mp_read_array(&rd, &na))) return e;
      for (uint32_t j = 0; j < na; j++) {
        char host[256];
        int port;
        if ((e = mp_read_str(&rd, &s, &sl))) return e;
        if (pb->naddrs == CONFIG_ANNOUNCE_MAX || sl >= NODE_ADDR_MAX) continue;
        memcpy(pb->addrs[pb->naddrs], s, sl);
        pb->addrs[pb->naddrs][sl] = 0;
        bool plain = true; /* printable ASCII only: the book file is split on spaces */
        for (uint32_t x = 0; x < sl; x++) plain &= s[x] > ' ' && s[x] < 0x7f;
        if (!plain || config_split_addr(pb->addrs[pb->naddrs], host, sizeof host, &port)) continue;
        pb->naddrs++;
      }
    } else if (kl == 3 && !memcmp(k, "hub", 3)) {
      if ((e = mp_read_bool(&rd, &pb->hub))) return e;
    } else if ((e = mp_skip(&rd, 1))) {
      return e;
    }
  }
  return pb->node && pb->naddrs ? 0 : STOA_ESCHEMA;
}

/* Our own body, msgpack {node, addrs, hub} in this order, so that the same
 * settings give the same bytes (and the same hash) on every start. */
static int body_build(const node *n, msgpack_sbuffer *sb) {
  msgpack_packer pk;
  msgpack_sbuffer_init(sb);
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 3);
  msgpack_pack_str_with_body(&pk, "node", 4);
  msgpack_pack_bin_with_body(&pk, n->node_pk, KEY_LEN);
  msgpack_pack_str_with_body(&pk, "addrs", 5);
  msgpack_pack_array(&pk, (uint32_t)n->cfg.nannounce);
  for (int i = 0; i < n->cfg.nannounce; i++)
    msgpack_pack_str_with_body(&pk, n->cfg.announce[i], strlen(n->cfg.announce[i]));
  msgpack_pack_str_with_body(&pk, "hub", 3);
  if (n->cfg.hub) msgpack_pack_true(&pk);
  else msgpack_pack_false(&pk);
  return sb->data ? 0 : STOA_ENOMEM;
}

/* ---- learning ------------------------------------------------------------------------ */

void peers_learn(node *n, const rec *r) {
  struct peers_book *b = n->book;
  peer_body pb;
  if (!b || r->h.kind != REC_PEER || !r->body || body_parse(r->body, r->body_len, &pb)) return;
  if (!memcmp(pb.node, n->node_pk, KEY_LEN)) {
    /* Ours (or someone naming our key): remembered to decide whether to
     * announce again, never dialed. */
    if (!memcmp(r->h.owner, n->network, KEY_LEN) && (!b->self_seen || r->h.ts >= b->self_ts)) {
      b->self_seen = true;
      b->self_ts = r->h.ts;
      memcpy(b->self_body, r->h.body_hash, HASH_LEN);
    }
    return;
  }
  /* Only the newest record of a node counts: an older version arriving
   * late (sync order is random) changes nothing, a newer one replaces the
   * addresses it no longer lists. */
  for (size_t i = 0; i < b->n; i++)
    if (!memcmp(b->e[i].node, pb.node, KEY_LEN) && b->e[i].ts > r->h.ts) return;
  for (size_t i = 0; i < b->n;) {
    book_ent *e = &b->e[i];
    bool listed = false;
    for (int j = 0; j < pb.naddrs; j++) listed |= !strcmp(e->addr, pb.addrs[j]);
    if (!memcmp(e->node, pb.node, KEY_LEN) && e->ts < r->h.ts && !listed) book_del(b, i);
    else i++;
  }
  for (int j = 0; j < pb.naddrs; j++) {
    book_ent *e = book_find(b, pb.addrs[j]);
    if (is_announced(n, pb.addrs[j])) continue;
    if (e && e->ts > r->h.ts) continue; /* a newer record of another node holds it */
    if (e && memcmp(e->node, pb.node, KEY_LEN)) { /* another node there now: new history */
      memset(e, 0, sizeof *e);
      snprintf(e->addr, sizeof e->addr, "%s", pb.addrs[j]);
    }
    if (!e) {
      if (!(e = book_take(b, r->h.ts))) continue;
      snprintf(e->addr, sizeof e->addr, "%s", pb.addrs[j]);
      log_debug("address book: learned %s", e->addr);
    }
    memcpy(e->node, pb.node, KEY_LEN);
    e->ts = r->h.ts;
    e->hub = pb.hub;
    e->confirmed = true;
    b->dirty = true;
  }
}

/* ---- announcing ------------------------------------------------------------------------- */

typedef struct pend_ctx { const node *n; const uint8_t *body_hash; bool found; } pend_ctx;

static int pend_one(void *vctx, uint64_t seq, const uint8_t *buf, size_t len) {
  pend_ctx *p = vctx;
  rec r;
  (void)seq;
  if (!rec_decode(buf, len, &r) && r.h.kind == REC_PEER && !memcmp(r.h.signer, p->n->node_pk, KEY_LEN) &&
      !memcmp(r.h.body_hash, p->body_hash, HASH_LEN))
    p->found = true;
  return 0;
}

/* Signs and stores our peer record; the daemon's follow of the store
 * pushes it to every peer.  The entry id is derived from the node key, so
 * every record a node publishes is a version of one entry, and the newest
 * wins everywhere. */
void peers_announce(node *n) {
  struct peers_book *b = n->book;
  msgpack_sbuffer sb;
  uint8_t bh[HASH_LEN], id[ID_LEN], *out = NULL;
  size_t len;
  int e;
  if (!b || !n->cfg.nannounce) return;
  if (body_build(n, &sb)) { log_error("out of memory"); return; }
  crypto_generichash(bh, sizeof bh, (const uint8_t *)sb.data, sb.size, NULL, 0);
  uint64_t now = node_now_ms();
  b->checked_ms = now;
  if (b->self_seen && !memcmp(bh, b->self_body, HASH_LEN)) {
    if (now - b->self_ts < REFRESH_MS) goto out;
    /* else a week old: signed again, so that it never looks abandoned */
  } else if (b->announced_set && !memcmp(bh, b->announced, HASH_LEN)) {
    goto out; /* signed in this run, waiting for our admission */
  }
  store_rd *rd;
  pend_ctx pc = { n, bh, false };
  if (!store_rd_begin(n->st, &rd)) {
    store_pending_scan(rd, pend_one, &pc);
    store_rd_end(rd);
  }
  if (pc.found) goto out; /* signed by an earlier run, still pending */
  crypto_generichash_state h;
  crypto_generichash_init(&h, NULL, 0, ID_LEN);
  crypto_generichash_update(&h, (const uint8_t *)PEER_ID_DOMAIN, sizeof PEER_ID_DOMAIN);
  crypto_generichash_update(&h, n->node_pk, KEY_LEN);
  crypto_generichash_final(&h, id, ID_LEN);
  uint64_t ts = b->self_seen && now <= b->self_ts ? b->self_ts + 1 : now;
  store_item it;
  memset(&it, 0, sizeof it);
  if (!(out = malloc(REC_MAX))) { log_error("out of memory"); goto out; }
  if ((e = rec_build(REC_PEER, n->network, id, ts, n->node_sk, (const uint8_t *)sb.data, sb.size, n->fed, out,
                     REC_MAX, &len)) ||
      (e = rec_decode(out, len, &it.r))) {
    log_error("cannot build our peer record: %s", stoa_strerror(e));
    goto out;
  }
  it.buf = out;
  it.len = len;
  it.sig_ok = rec_verify(&it.r, n->fed) == 0;
  if ((e = store_ingest(n->st, &it, 1, now, NULL))) {
    log_error("cannot store our peer record: %s", stoa_strerror(e));
    goto out;
  }
  memcpy(b->announced, bh, HASH_LEN);
  b->announced_set = true;
  if (it.status == ST_NEW) {
    log_info("announced %d address(es)%s: %s%s", n->cfg.nannounce, n->cfg.hub ? " as a hub" : "",
             n->cfg.announce[0], n->cfg.nannounce > 1 ? ", ..." : "");
    peer_push_new(n);
  } else if (it.status == ST_PENDING) {
    log_info("our peer record waits until our network's admission arrives (%s)", stoa_strerror(it.err));
  } else {
    log_warn("our peer record was not accepted: %s%s%s", stoa_strerror(it.err),
             it.err == STOA_ESCHEMA ? ": " : "", it.err == STOA_ESCHEMA ? it.why.msg : "");
  }
out:
  free(out);
  msgpack_sbuffer_destroy(&sb);
}

/* ---- history ---------------------------------------------------------------------------- */

/* Exponential from 30 s to an hour, +-25% jitter, so that a dead address
 * costs at most a connection attempt an hour per node. */
static uint64_t backoff_ms(uint32_t fails) {
  uint64_t d = BACKOFF_MIN_MS;
  for (uint32_t i = 1; i < fails && d < BACKOFF_MAX_MS; i++) d *= 2;
  if (d > BACKOFF_MAX_MS) d = BACKOFF_MAX_MS;
  return d - d / 4 + randombytes_uniform((uint32_t)(d / 2 + 1));
}

static void note_synced(node *n, const char *addr, const uint8_t key[KEY_LEN]) {
  book_ent *e = book_find(n->book, addr);
  if (!e) return;
  e->syncs++;
  e->fails = 0;
  e->last_ok_ms = node_now_ms();
  e->next_try_ms = 0;
  memcpy(e->node, key, KEY_LEN); /* what answers there, whatever was announced */
  n->book->dirty = true;
}

void peers_slot_failed(node *n, int i, const char *why) {
  peer_slot *p = &n->peers[i];
  book_ent *e = n->book ? book_find(n->book, p->addr) : NULL;
  uint64_t now = node_now_ms();
  if (e) {
    if (p->synced) { /* it worked, then closed: welcome back soon */
      e->next_try_ms = now + REDIAL_MS;
    } else {
      e->fails++;
      e->last_fail_ms = now;
      e->next_try_ms = now + backoff_ms(e->fails);
    }
    n->book->dirty = true;
    log_info("%s: address-book peer %s (%s); next try in %" PRIu64 " s", p->addr,
             p->synced ? "closed" : "failed", why ? why : "?", (e->next_try_ms - now) / 1000);
  }
  node_peer_release(n, i, NULL);
}

/* ---- saving ----------------------------------------------------------------------------- */

static void book_path(const node *n, char *out, size_t cap) {
  snprintf(out, cap, "%.4000s/%s", n->home, BOOK_FILE);
}

/* One line per address:
 *   ADDR NODE-HEX HUB SELF SYNCS FAILS LAST-OK LAST-FAIL NEXT-TRY RECORD-TS
 * written to a temporary file and renamed, so a crash leaves the old one. */
static void book_save(node *n) {
  struct peers_book *b = n->book;
  char path[4200], tmp[4300], hex[2 * KEY_LEN + 1];
  book_path(n, path, sizeof path);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (!f) { log_warn("%s: %s", tmp, strerror(errno)); return; }
  fprintf(f, "# stoad address book (docs/hubs.md): addr node hub self syncs fails "
             "last_ok_ms last_fail_ms next_try_ms record_ts\n");
  for (size_t i = 0; i < b->n; i++) {
    const book_ent *e = &b->e[i];
    sodium_bin2hex(hex, sizeof hex, e->node, KEY_LEN);
    fprintf(f, "%s %s %d %d %" PRIu32 " %" PRIu32 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", e->addr,
            hex, e->hub, e->self, e->syncs, e->fails, e->last_ok_ms, e->last_fail_ms, e->next_try_ms, e->ts);
  }
  if (fclose(f) || rename(tmp, path)) {
    log_warn("%s: %s", path, strerror(errno));
    return;
  }
  b->dirty = false;
  b->saved_ms = node_now_ms();
}

/* Reads the last run's book; a line that does not parse is skipped (the
 * file is ours, but a damaged one must not stop the daemon). */
static void book_load(node *n) {
  struct peers_book *b = n->book;
  char path[4200], line[600], addr[NODE_ADDR_MAX], hex[2 * KEY_LEN + 2], host[256];
  int hub, self, port;
  book_ent e;
  book_path(n, path, sizeof path);
  FILE *f = fopen(path, "r");
  if (!f) return;
  while (b->n < b->cap && fgets(line, sizeof line, f)) {
    memset(&e, 0, sizeof e);
    if (line[0] == '#') continue;
    if (sscanf(line, "%279s %65s %d %d %" SCNu32 " %" SCNu32 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64, addr,
               hex, &hub, &self, &e.syncs, &e.fails, &e.last_ok_ms, &e.last_fail_ms, &e.next_try_ms, &e.ts) != 10 ||
        strlen(hex) != 2 * KEY_LEN || sodium_hex2bin(e.node, KEY_LEN, hex, strlen(hex), NULL, NULL, NULL) ||
        config_split_addr(addr, host, sizeof host, &port) || book_find(b, addr))
      continue;
    snprintf(e.addr, sizeof e.addr, "%s", addr);
    e.hub = hub != 0;
    e.self = self != 0;
    b->e[b->n++] = e;
  }
  fclose(f);
  log_info("address book: %zu address(es) from %s", b->n, path);
}

int peers_init(node *n) {
  struct peers_book *b = calloc(1, sizeof *b);
  if (!b || !(b->e = calloc(n->cfg.book_size ? n->cfg.book_size : 1, sizeof *b->e))) {
    free(b);
    return STOA_ENOMEM;
  }
  b->cap = n->cfg.book_size ? n->cfg.book_size : 1;
  n->book = b;
  book_load(n);
  return 0;
}

void peers_close(node *n) {
  if (!n->book) return;
  book_save(n);
  free(n->book->e);
  free(n->book);
  n->book = NULL;
}

/* ---- choosing whom to dial --------------------------------------------------------------------- */

static bool key_connected(const node *n, const uint8_t key[KEY_LEN]) {
  for (const conn *c = n->conns; c; c = c->next)
    if (!c->closing && c->state == CS_READY && !memcmp(c->peer_node, key, KEY_LEN)) return true;
  return false;
}

static bool addr_in_slot(const node *n, const char *addr) {
  for (int i = 0; i < n->npeers; i++)
    if (n->peers[i].active && !strcmp(n->peers[i].addr, addr)) return true;
  return false;
}

/* ---- listing (`stoa peers --book`) ------------------------------------------------------ */

/* What an address is worth to us now: dialed (a slot holds it), then
 * synced before, then not failing. */
static int book_rank(const node *n, const book_ent *e) {
  return (addr_in_slot(n, e->addr) ? 4 : 0) + keep_score(e);
}

/* The book listed: by rank, then by address. */
typedef struct list_ent { int rank; const book_ent *e; } list_ent;

static int list_cmp(const void *a, const void *b) {
  const list_ent *x = a, *y = b;
  return x->rank != y->rank ? y->rank - x->rank : strcmp(x->e->addr, y->e->addr);
}

void peers_book_pack(const node *n, msgpack_sbuffer *sb, size_t room, uint32_t *listed, uint32_t *total) {
  const struct peers_book *b = n->book;
  msgpack_packer pk;
  char hex[2 * KEY_LEN + 1];
  *listed = *total = 0;
  if (!b || !b->n) return;
  list_ent *v = malloc(b->n * sizeof *v);
  if (!v) return;
  for (size_t i = 0; i < b->n; i++) {
    const book_ent *e = &b->e[i];
    v[i] = (list_ent){ book_rank(n, e), e };
  }
  qsort(v, b->n, sizeof *v, list_cmp);
  msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
  for (size_t i = 0; i < b->n && sb->size < room; i++) {
    const book_ent *e = v[i].e;
    sodium_bin2hex(hex, sizeof hex, e->node, KEY_LEN);
    msgpack_pack_map(&pk, 10);
#define KV_STR(k, x) (msgpack_pack_str_with_body(&pk, k, strlen(k)), msgpack_pack_str_with_body(&pk, x, strlen(x)))
#define KV_U64(k, x) (msgpack_pack_str_with_body(&pk, k, strlen(k)), msgpack_pack_uint64(&pk, x))
#define KV_BOOL(k, x) (msgpack_pack_str_with_body(&pk, k, strlen(k)), (x) ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk))
    KV_STR("addr", e->addr);
    KV_STR("node", hex);
    KV_BOOL("hub", e->hub);
    KV_BOOL("self", e->self);
    KV_BOOL("dialed", addr_in_slot(n, e->addr));
    KV_U64("syncs", e->syncs);
    KV_U64("fails", e->fails);
    KV_U64("last_ok_ms", e->last_ok_ms);
    KV_U64("last_fail_ms", e->last_fail_ms);
    KV_U64("next_try_ms", e->next_try_ms);
#undef KV_STR
#undef KV_U64
#undef KV_BOOL
    (*listed)++;
  }
  *total = (uint32_t)b->n;
  free(v);
}

/* Least worth first: by rank, then the oldest record. */
static int drop_cmp(const void *a, const void *b) {
  const list_ent *x = a, *y = b;
  if (x->rank != y->rank) return x->rank - y->rank;
  return x->e->ts < y->e->ts ? -1 : x->e->ts > y->e->ts;
}

/* The current peer record of every node in the store, learned again: at
 * start the daemon's follow of the store does it; after a SIGHUP that made
 * the book larger, this brings back what the smaller book had to refuse. */
typedef struct relearn_ctx { node *n; store_rd *rd; const trust_state *t; } relearn_ctx;

static int relearn_one(void *vctx, const store_entry *en) {
  relearn_ctx *x = vctx;
  const uint8_t *buf;
  size_t len;
  rec r;
  if (!store_get(x->rd, en->hash, &buf, &len) && !rec_decode(buf, len, &r) && x->t &&
      trust_check(x->t, &r.h) == 0)
    peers_learn(x->n, &r);
  return 0;
}

static void book_relearn(node *n) {
  store_rd *rd;
  store_query q;
  size_t before = n->book->n;
  memset(&q, 0, sizeof q);
  q.kind = REC_PEER;
  q.limit = SIZE_MAX;
  if (store_rd_begin(n->st, &rd)) return;
  relearn_ctx x = { n, rd, store_trust(rd) };
  int e = store_search(rd, &q, relearn_one, &x);
  store_rd_end(rd);
  if (e < 0) log_warn("address book: the store's peer records could not be read: %s", stoa_strerror(e));
  else log_info("address book: %zu address(es) from the store's peer records", n->book->n - before);
}

void peers_resize(node *n, unsigned size) {
  struct peers_book *b = n->book;
  if (!b || !size || size == b->cap) return;
  if (b->n > size) {
    list_ent *v = malloc(b->n * sizeof *v);
    bool *drop = calloc(b->n, sizeof *drop);
    if (!v || !drop) { free(v); free(drop); return; }
    for (size_t i = 0; i < b->n; i++) v[i] = (list_ent){ book_rank(n, &b->e[i]), &b->e[i] };
    qsort(v, b->n, sizeof *v, drop_cmp);
    for (size_t i = 0; i < b->n - size; i++) drop[v[i].e - b->e] = true;
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++)
      if (!drop[i]) b->e[k++] = b->e[i];
    log_info("address book: %zu address(es) dropped to fit address_book = %u", b->n - k, size);
    b->n = k;
    b->dirty = true;
    free(v);
    free(drop);
  }
  book_ent *ne = realloc(b->e, size * sizeof *ne);
  if (!ne) { /* a smaller book stays in its larger array; a larger one waits */
    if (size < b->cap) b->cap = size;
    return;
  }
  bool grew = size > b->cap;
  if (grew) memset(ne + b->cap, 0, (size - b->cap) * sizeof *ne);
  b->e = ne;
  b->cap = size;
  if (grew) book_relearn(n);
}

/* A random address among those worth dialing now, weighted: one that
 * synced before counts 7, a hub 4 more (a hub picking: 7 more, so hubs
 * link up with each other), each failure since the last success divides;
 * an address whose record is three weeks old and never worked counts 1.
 * One pass, reservoir-style: O(book x connections). */
static book_ent *pick(node *n, uint64_t now) {
  struct peers_book *b = n->book;
  book_ent *best = NULL;
  uint32_t total = 0;
  for (size_t i = 0; i < b->n; i++) {
    book_ent *e = &b->e[i];
    if (e->self || e->next_try_ms > now || !memcmp(e->node, n->node_pk, KEY_LEN) || is_announced(n, e->addr) ||
        addr_in_slot(n, e->addr) || key_connected(n, e->node))
      continue;
    uint32_t w = 1 + (e->syncs ? 6 : 0) + (e->hub ? (n->cfg.hub ? 7 : 4) : 0);
    if (!e->syncs && e->ts + STALE_MS < now) w = 1;
    w = w * 16 / (1 + (e->fails < 15 ? e->fails : 15));
    if (!w) w = 1;
    total += w;
    if (randombytes_uniform(total) < w) best = e;
  }
  return best;
}

/* ---- every second ------------------------------------------------------------------------------- */

void peers_tick(node *n) {
  struct peers_book *b = n->book;
  uint64_t now = node_now_ms();
  unsigned configured = 0, book = 0;
  if (!b || n->stopping) return;
  if (!b->pruned) { /* the store has been read whole: the file keeps history only */
    for (size_t i = 0; i < b->n;)
      if (!b->e[i].confirmed) book_del(b, i);
      else i++;
    b->pruned = true;
  }
  /* A connection to ourselves: an address of ours under another name
   * (0.0.0.0, a DNS alias), or a hostile record naming our address. */
  conn *self = NULL;
  for (conn *c = n->conns; c; c = c->next) /* our dialing end first: else it redials */
    if (!c->closing && c->state == CS_READY && !memcmp(c->peer_node, n->node_pk, KEY_LEN) &&
        (!self || c->peer_index >= 0))
      self = c;
  if (self) {
    conn *c = self;
    if (c->peer_index >= 0 && c->peer_index < n->npeers) {
      peer_slot *p = &n->peers[c->peer_index];
      book_ent *e = book_find(b, p->addr);
      if (e) { e->self = true; b->dirty = true; }
      log_warn("%s: this is ourselves: not dialed again%s", p->addr, p->from_book ? "" : " (remove it from [peers])");
      node_peer_release(n, c->peer_index, NULL);
    } else {
      net_close(c, 0, "a connection to ourselves");
    }
  }
  for (int i = 0; i < n->npeers; i++) {
    peer_slot *p = &n->peers[i];
    if (!p->active) continue;
    if (p->from_book) book++;
    else configured++;
    conn *c = p->c;
    if (!c || c->closing || c->state != CS_READY) continue;
    if (!p->synced && c->st->last_sync_ms) {
      p->synced = true;
      note_synced(n, p->addr, c->peer_node);
    }
    if (!p->from_book) continue;
    /* Two connections with one node (both dialed at once, or it dialed
     * us): the book's goes when the other is a configured one, or the
     * book's of a lower slot (two addresses of one node); against an
     * inbound one, when our key is the larger - the other side applies
     * the same rule, so one stays. */
    for (conn *o = n->conns; o; o = o->next) {
      if (o == c || o->closing || o->state != CS_READY || memcmp(o->peer_node, c->peer_node, KEY_LEN)) continue;
      bool drop = o->peer_index >= 0 ? !n->peers[o->peer_index].from_book || o->peer_index < i
                                     : memcmp(n->node_pk, c->peer_node, KEY_LEN) > 0;
      if (drop) {
        log_info("%s: already connected to this node otherwise", p->addr);
        node_peer_release(n, i, NULL);
        book--;
      }
      break;
    }
  }
  unsigned room = n->cfg.max_outgoing > configured ? n->cfg.max_outgoing - configured : 0;
  if (book > room) { /* max_outgoing lowered by SIGHUP, or peers configured since */
    for (int i = n->npeers - 1; i >= 0; i--) {
      peer_slot *p = &n->peers[i];
      if (p->active && p->from_book && p->c && p->c->state == CS_READY) {
        node_peer_release(n, i, "over max_outgoing");
        break;
      }
    }
  } else if (book < room) { /* one new dial a second: no burst */
    book_ent *e = pick(n, now);
    if (e) {
      e->next_try_ms = now + BACKOFF_MIN_MS; /* not picked again while it dials */
      node_peer_add_book(n, e->addr);
    }
  }
  if (b->dirty && now - b->saved_ms >= SAVE_EVERY_MS) book_save(n);
  if (now - b->checked_ms >= ANNOUNCE_CHECK_MS) peers_announce(n); /* the weekly refresh */
}
