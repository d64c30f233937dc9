/*
 * peer.c - the protocol after the handshake: HELLO, reconciliation
 * sessions, record transfer with flow control, and push
 * (docs/protocol.md §3).
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "config.h"
#include "node/node.h"
#include "proto/err.h"
#include "proto/trust.h"

#define EXT_CHUNK 16384                 /* symbols computed at once past the cache */
#define OUT_HIGH (1u << 20)             /* queued bytes above which we stop adding */

/* ---- a set of hashes ------------------------------------------------------------- */

static uint64_t hkey(const uint8_t h[HASH_LEN]) {
  uint64_t k;
  memcpy(&k, h, 8);
  return k ? k : 1; /* 0 marks an empty slot */
}

bool hashset_has(const hashset *s, const uint8_t h[HASH_LEN]) {
  if (!s->cap) return false;
  uint64_t k = hkey(h);
  for (size_t i = k & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
    if (s->v[i] == k) return true;
    if (!s->v[i]) return false;
  }
}

int hashset_add(hashset *s, const uint8_t h[HASH_LEN]) {
  if ((s->n + 1) * 4 > s->cap * 3) {
    size_t nc = s->cap ? s->cap * 2 : 1024;
    uint64_t *nv = calloc(nc, sizeof *nv);
    if (!nv) return STOA_ENOMEM;
    for (size_t i = 0; i < s->cap; i++) {
      if (!s->v[i]) continue;
      size_t j = s->v[i] & (nc - 1);
      while (nv[j]) j = (j + 1) & (nc - 1);
      nv[j] = s->v[i];
    }
    free(s->v);
    s->v = nv;
    s->cap = nc;
  }
  uint64_t k = hkey(h);
  size_t i = k & (s->cap - 1);
  while (s->v[i] && s->v[i] != k) i = (i + 1) & (s->cap - 1);
  if (!s->v[i]) { s->v[i] = k; s->n++; }
  return 0;
}

bool hashrecent_has(const hashrecent *h, const uint8_t hash[HASH_LEN]) {
  return hashset_has(&h->cur, hash) || hashset_has(&h->old, hash);
}

int hashrecent_add(hashrecent *h, const uint8_t hash[HASH_LEN]) {
  if (hashrecent_has(h, hash)) return 0;
  if (h->limit && h->cur.n >= h->limit) {
    hashset_free(&h->old);
    h->old = h->cur;
    h->cur = (hashset){ 0 };
  }
  return hashset_add(&h->cur, hash);
}

void hashrecent_free(hashrecent *h) {
  hashset_free(&h->cur);
  hashset_free(&h->old);
}

int hashes_push(uint8_t **v, size_t *n, size_t *cap, const uint8_t h[HASH_LEN]) {
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 1024;
    uint8_t *p = realloc(*v, nc * HASH_LEN);
    if (!p) return STOA_ENOMEM;
    *v = p;
    *cap = nc;
  }
  memcpy(*v + (*n)++ * HASH_LEN, h, HASH_LEN);
  return 0;
}

void hashset_free(hashset *s) {
  free(s->v);
  s->v = NULL;
  s->cap = s->n = 0;
}

/* ---- sessions ------------------------------------------------------------------------ */

typedef struct sync_session {
  uint32_t id;
  bool sender;
  bool done;
  iblt_sketch snap;                     /* our set when the session began */
  uint64_t snap_seq;
  uint64_t started_ms;
  uint32_t next;                        /* sender: next symbol to send */
  bool streaming;
  uint32_t limit;
  iblt_decoder dec;                     /* receiver */
  iblt_sym *ext;                        /* our symbols past the cache */
  uint32_t ext_start, ext_count;
  /* LIST instead of symbols (a node that holds much less than its peer) */
  uint64_t list_seq;                    /* sender: next record to list (0: none) */
  hashset listed;                       /* receiver: the peer's whole set */
  uint8_t *lwant;                       /* receiver: listed, and we lack it */
  size_t lwant_n, lwant_cap;
} sync_session;

/* A receiving session's decoder goes, and its symbols leave the node's
 * count. */
static void decoder_free(node *n, sync_session *s) {
  if (s->sender) return;
  n->dec_symbols -= s->dec.m;
  iblt_decoder_free(&s->dec); /* zeroes it: m is 0 after */
}

static void session_free(node *n, sync_session *s) {
  if (!s) return;
  hashset_free(&s->listed);
  free(s->lwant);
  iblt_sketch_free(&s->snap);
  decoder_free(n, s);
  free(s->ext);
  free(s);
}

/* Gives back a finished session's memory at once (the decoder of a large
 * difference holds ~144 bytes per symbol), keeping its id so that late
 * symbols are recognised and ignored. */
static void session_release(node *n, sync_session *s) {
  decoder_free(n, s); /* both free functions zero their struct */
  iblt_sketch_free(&s->snap);
  free(s->ext);
  s->ext = NULL;
  hashset_free(&s->listed);
  free(s->lwant);
  s->lwant = NULL;
  malloc_trim(0);
}

static sync_session *session_new(conn *c, uint32_t id, bool sender) {
  sync_session *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->id = id;
  s->sender = sender;
  s->started_ms = node_now_ms();
  s->snap_seq = c->node->seq;
  if (iblt_sketch_copy(&s->snap, &c->node->sketch)) { free(s); return NULL; }
  /* A receiver takes at most the symbols the two sets can need (as the
   * sender stops after), so that a peer streaming zero symbols cannot
   * make us hold ~144 bytes per byte it sends up to sync_max_symbols. */
  uint64_t need = 4 * (c->peer_set_size + c->node->records) + 64, max = c->node->cfg.sync_max_symbols;
  if (!sender && iblt_decoder_init(&s->dec, &s->snap, (uint32_t)(need < max ? need : max))) {
    iblt_sketch_free(&s->snap);
    free(s);
    return NULL;
  }
  return s;
}

typedef struct ext_ctx { iblt_sym *out; uint32_t start, count; uint64_t upto; } ext_ctx;

static int ext_add(void *vctx, uint64_t seq, const uint8_t *buf, size_t len) {
  ext_ctx *x = vctx;
  rec r;
  if (seq > x->upto) return 1;
  if (rec_peek(buf, len, &r)) return 0;
  iblt_symbols_add_item(x->out, x->start, x->count, r.hash);
  return 0;
}

/* Our symbols [start, start+EXT_CHUNK) past the cached prefix, computed in
 * one pass over the records the session's snapshot held: O(set). */
static const iblt_sym *ext_sym(conn *c, sync_session *s, uint32_t i) {
  if (i < s->snap.cap) return iblt_sketch_sym(&s->snap, i);
  if (!s->ext || i < s->ext_start || i >= s->ext_start + s->ext_count) {
    if (!s->ext && !(s->ext = malloc(EXT_CHUNK * sizeof *s->ext))) return NULL;
    s->ext_start = i;
    s->ext_count = EXT_CHUNK;
    iblt_symbols_clear(s->ext, EXT_CHUNK);
    store_rd *rd;
    if (store_rd_begin(c->node->st, &rd)) return NULL;
    ext_ctx x = { s->ext, s->ext_start, s->ext_count, s->snap_seq };
    store_scan(rd, 1, ext_add, &x);
    store_rd_end(rd);
    log_debug("%s: computed symbols %u..%u from the whole set", c->addr, i, i + EXT_CHUNK);
  }
  return &s->ext[i - s->ext_start];
}

/* ---- sending records -------------------------------------------------------------------- */

struct sendq_ent {
  uint8_t h[HASH_LEN];
  uint64_t prio;                        /* trust records first, then newest */
};

static uint64_t send_prio(const rec_header *h) {
  return rec_kind_is_trust(h->kind) ? UINT64_MAX : h->ts;
}

/* Appends (h, prio) to a growing array *v of *n entries, room for *cap.
 * 0 or STOA_ENOMEM (the array unchanged). */
static int ents_push(struct sendq_ent **v, size_t *n, size_t *cap, const uint8_t h[HASH_LEN], uint64_t prio) {
  if (*n == *cap) {
    size_t nc = *cap ? *cap * 2 : 1024;
    struct sendq_ent *p = realloc(*v, nc * sizeof *p);
    if (!p) return STOA_ENOMEM;
    *v = p;
    *cap = nc;
  }
  memcpy((*v)[*n].h, h, HASH_LEN);
  (*v)[(*n)++].prio = prio;
  return 0;
}

static int sendq_push(conn *c, const uint8_t h[HASH_LEN], uint64_t prio) {
  if (c->sendq_n - c->sendq_pos >= NODE_SENDQ_MAX) return STOA_ETOOBIG; /* a peer asking too much */
  if (c->sendq_n == c->sendq_cap && c->sendq_pos && c->sendq_pos >= c->sendq_n / 2) {
    /* Mostly sent: move the rest to the front rather than grow, so that
     * a long transfer asked for a part at a time needs a part's room. */
    memmove(c->sendq, c->sendq + c->sendq_pos, (c->sendq_n - c->sendq_pos) * sizeof *c->sendq);
    c->sendq_n -= c->sendq_pos;
    c->sendq_pos = 0;
  }
  return ents_push(&c->sendq, &c->sendq_n, &c->sendq_cap, h, prio);
}

static int prio_cmp(const void *a, const void *b) {
  uint64_t x = ((const struct sendq_ent *)a)->prio, y = ((const struct sendq_ent *)b)->prio;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* Queues the records a peer asked for, best first: trust records (the
 * receiver needs them to accept the rest), then the newest entries, so
 * that a link that lives only a few minutes brings the most useful data.
 * The new part is sorted; the whole unsent queue only when the new part
 * does not follow it (a peer asks in the order we offered, so seldom). */
static void enqueue_records(conn *c, const uint8_t *hashes, size_t n) {
  store_rd *rd;
  size_t k = 0; /* queued: the last k of the queue (a compaction keeps order) */
  if (store_rd_begin(c->node->st, &rd)) return;
  for (size_t i = 0; i < n; i++) {
    const uint8_t *buf;
    size_t len;
    rec r;
    if (hashrecent_has(&c->seen, hashes + i * HASH_LEN)) continue;
    if (store_get(rd, hashes + i * HASH_LEN, &buf, &len) || rec_peek(buf, len, &r)) continue;
    if (sendq_push(c, r.hash, send_prio(&r.h))) break;
    k++;
  }
  store_rd_end(rd);
  /* (Never qsort an empty part: the queue may be NULL, freed when it
   * drained, and a peer may ask only for what we do not hold.) */
  size_t from = c->sendq_n - k;
  if (k > 1) qsort(c->sendq + from, k, sizeof *c->sendq, prio_cmp);
  if (c->sendq_n - c->sendq_pos > 1 &&
      (c->sendq_pushed || (from > c->sendq_pos && from < c->sendq_n && c->sendq[from - 1].prio < c->sendq[from].prio)))
    qsort(c->sendq + c->sendq_pos, c->sendq_n - c->sendq_pos, sizeof *c->sendq, prio_cmp);
  c->sendq_pushed = false;
  peer_pump(c);
}

/* Bytes we let queue in user space: with an upload cap, about two seconds
 * of it, so that ACKs and WANTs do not wait behind minutes of records. */
static size_t out_high(const conn *c) {
  uint64_t r = c->node->cfg.peer_upload_rate, t = c->node->cfg.upload_rate;
  if (t && (!r || t < r)) r = t;
  if (!r) return OUT_HIGH;
  uint64_t h = 2 * r < OUT_HIGH ? 2 * r : OUT_HIGH;
  return h < 16384 ? 16384 : (size_t)h;
}

/* The peer, not the link, sets the pace: its last ACK said it holds more
 * than half a second of what it acknowledges (and at least 1 MiB) received
 * and not yet committed.  Compressing would then only cost both sides CPU
 * and bring nothing sooner, so records go plain until it catches up (the
 * idea of `zstd --adapt`).  On a slow link the peer waits for data, and
 * records go compressed. */
static bool peer_busy(const conn *c) {
  uint64_t half = c->ack_rate / 2;
  return c->peer_waiting >= ((uint64_t)1 << 20) && c->peer_waiting >= half;
}

/* Sends one message, through the connection's zstd stream when both
 * sides speak it and the peer is not the bottleneck.  False when the
 * connection had to close. */
static bool send_maybe_zip(conn *c, const uint8_t *msg, size_t len) {
  static uint8_t z[WIRE_MSG_MAX], out[WIRE_MSG_MAX];
  size_t zl, ol;
  bool plain = c->ztx && peer_busy(c);
  if (plain != c->plain) {
    log_debug("%s: records go %s (the peer holds %llu bytes uncommitted)", c->addr,
              plain ? "plain" : "compressed", (unsigned long long)c->peer_waiting);
    c->plain = plain;
  }
  /* ZIP is per message: one too large to be sure to fit compressed goes
   * plain (the stream is untouched). */
  if (plain) c->st->zip_plain += len;
  if (!c->ztx || len > ZIP_RAW_MAX || plain) { net_send_msg(c, msg, len); return true; }
  int e = zip_tx_msg(c->ztx, msg, len, z, sizeof z - WIRE_ZIP_OVERHEAD, &zl);
  if (!e) e = wire_encode_zip((uint32_t)len, z, zl, out, sizeof out, &ol);
  if (e) { net_close(c, 0, "compression failed"); return false; }
  c->st->zip_raw += len;
  c->st->zip_out += ol;
  net_send_msg(c, out, ol);
  return true;
}

/* Offers every hash we hold, WIRE_WANT_MAX at a time, after a sync that
 * could not decode: the peer asks for what it lacks.  32 bytes per
 * record: the fallback for differences too large for the symbols. */
typedef struct offer_ctx { uint8_t *h; uint32_t n; uint64_t last, upto; } offer_ctx;

static int offer_one(void *vctx, uint64_t seq, const uint8_t *buf, size_t len) {
  offer_ctx *o = vctx;
  rec r;
  if (o->n == WIRE_WANT_MAX || (o->upto && seq > o->upto)) return 1;
  o->last = seq;
  if (!rec_peek(buf, len, &r)) memcpy(o->h + (size_t)o->n++ * HASH_LEN, r.hash, HASH_LEN);
  return 0;
}

/* The LIST of a session in list mode: our set as of the session's start,
 * paced like everything else. */
static void list_pump(conn *c, sync_session *s) {
  static uint8_t hashes[WIRE_WANT_MAX * HASH_LEN], msg[WIRE_MSG_MAX];
  while (s->list_seq && c->out_bytes < out_high(c)) {
    store_rd *rd;
    if (store_rd_begin(c->node->st, &rd)) return;
    offer_ctx o = { hashes, 0, 0, s->snap_seq };
    store_scan(rd, s->list_seq, offer_one, &o);
    store_rd_end(rd);
    wire_list l = { s->id, hashes, o.n, o.n < WIRE_WANT_MAX || o.last >= s->snap_seq };
    size_t len;
    if (wire_encode_list(&l, msg, sizeof msg, &len)) return;
    net_send_msg(c, msg, len);
    s->list_seq = l.last ? 0 : o.last + 1;
  }
}

/* Announces the records we relay (follow_one), as fast as the connection
 * takes them, skipping what the peer sent us meanwhile. */
static void announce_pump(conn *c) {
  static uint8_t hashes[WIRE_WANT_MAX * HASH_LEN], msg[WIRE_MSG_MAX];
  while (c->ann_pos < c->ann_n && c->out_bytes < out_high(c)) {
    uint32_t k = 0;
    size_t len;
    for (; c->ann_pos < c->ann_n && k < WIRE_WANT_MAX; c->ann_pos++) {
      const uint8_t *h = c->ann + c->ann_pos * HASH_LEN;
      if (!hashrecent_has(&c->seen, h)) memcpy(hashes + (size_t)k++ * HASH_LEN, h, HASH_LEN);
    }
    if (k && !wire_encode_hashes(W_ANNOUNCE, hashes, k, msg, sizeof msg, &len)) {
      net_send_msg(c, msg, len);
      c->st->tx_announced += k;
    }
  }
  if (c->ann_pos < c->ann_n) return;
  c->ann_pos = c->ann_n = 0;
  if (c->ann_cap > 4096) { /* all sent: a large list's room goes back */
    free(c->ann);
    c->ann = NULL;
    c->ann_cap = 0;
  }
}

static bool offer_next(conn *c);

static void offer_pump(conn *c) {
  static uint8_t hashes[WIRE_WANT_MAX * HASH_LEN], msg[WIRE_MSG_MAX];
  while (c->offer_seq && c->out_bytes < out_high(c)) {
    store_rd *rd;
    if (store_rd_begin(c->node->st, &rd)) return;
    offer_ctx o = { hashes, 0, 0, 0 };
    store_scan(rd, c->offer_seq, offer_one, &o);
    store_rd_end(rd);
    size_t len;
    if (o.n && !wire_encode_hashes(W_OFFER, hashes, o.n, msg, sizeof msg, &len)) net_send_msg(c, msg, len);
    c->offer_seq = o.n == WIRE_WANT_MAX ? o.last + 1 : 0;
    if (!c->offer_seq) log_info("%s: offered every record we hold", c->addr);
  }
}

/* Sends what the window allows: records from the send queue, and symbols
 * of a streaming session. */
void peer_pump(conn *c) {
  node *n = c->node;
  static uint8_t msg[WIRE_MSG_MAX];
  if (c->state != CS_READY || c->closing) return;
  size_t high = out_high(c);
  sync_session *s = c->out_sync;
  if (s && s->list_seq) list_pump(c, s);
  while (s && s->streaming && !s->done && c->out_bytes < high && s->next < s->limit) {
    uint8_t syms[WIRE_MSG_MAX - 64];
    size_t used = 0, len, k;
    uint32_t first = s->next;
    for (k = 0; s->next < s->limit && used + IBLT_SYM_MAX <= sizeof syms; k++, s->next++) {
      const iblt_sym *y = ext_sym(c, s, s->next);
      if (!y || iblt_sym_encode(y, syms + used, sizeof syms - used, &len)) break;
      used += len;
    }
    if (!k) break;
    wire_sync w = { s->id, first, syms, (uint32_t)used, n->records };
    if (wire_encode_sync(&w, msg, sizeof msg, &len)) break;
    net_send_msg(c, msg, len);
  }
  offer_pump(c);
  announce_pump(c);
  if (c->sendq_pos >= c->sendq_n) return;
  if (!c->ztx && n->cfg.zstd_level && (c->peer_caps & WCAP_ZSTD) && zip_tx_new(&c->ztx, n->cfg.zstd_level)) {
    net_close(c, 0, "out of memory");
    return;
  }
  /* A compressed message must fit a frame even if nothing compresses.
   * Under an upload cap, messages of about half a second of it, so that
   * no frame is a burst far above the cap. */
  size_t msg_max = c->ztx ? ZIP_RAW_MAX : WIRE_MSG_MAX, cap_max = out_high(c) / 4;
  if (cap_max < msg_max) msg_max = cap_max < 8192 ? 8192 : cap_max;
  /* On a slow link, two messages to a window: a cut loses less, and the
   * next message is on its way while the last is acknowledged. */
  if (c->window / 2 < msg_max) msg_max = c->window / 2 < 8192 ? 8192 : c->window / 2;
  store_rd *rd;
  if (store_rd_begin(n->st, &rd)) return;
  while (c->sendq_pos < c->sendq_n && c->inflight < c->window && c->out_bytes < high) {
    const uint8_t *recs[WIRE_RECORDS_MAX];
    size_t lens[WIRE_RECORDS_MAX], total = WIRE_RECORDS_OVERHEAD, len;
    uint32_t k = 0;
    while (c->sendq_pos < c->sendq_n && k < WIRE_RECORDS_MAX) {
      const uint8_t *h = c->sendq[c->sendq_pos].h;
      const uint8_t *buf;
      size_t blen;
      if (hashrecent_has(&c->seen, h) || store_get(rd, h, &buf, &blen)) { c->sendq_pos++; continue; }
      /* The first record goes whatever its size (<= REC_MAX fits a frame). */
      if (k && total + blen + WIRE_RECORD_OVERHEAD > msg_max) break;
      recs[k] = buf;
      lens[k++] = blen;
      total += blen + WIRE_RECORD_OVERHEAD;
      hashrecent_add(&c->seen, h);
      c->sendq_pos++;
    }
    if (!k) continue;
    if (wire_encode_records(recs, lens, k, msg, sizeof msg, &len)) break;
    if (!send_maybe_zip(c, msg, len)) break;
    c->st->tx_records += k;
    c->inflight += len;
    if (c->nin == c->capin) {
      size_t nc = c->capin ? c->capin * 2 : 64;
      size_t *p = realloc(c->inflight_msgs, nc * sizeof *p);
      if (!p) break;
      c->inflight_msgs = p;
      c->capin = nc;
    }
    c->inflight_msgs[c->nin++] = len;
  }
  store_rd_end(rd);
  if (c->sendq_pos == c->sendq_n) {
    c->sendq_pos = c->sendq_n = 0;
    if (c->sendq_cap > 4096) { /* all sent: a large queue's room goes back */
      free(c->sendq);
      c->sendq = NULL;
      c->sendq_cap = 0;
    }
  }
}

/* ---- HELLO ---------------------------------------------------------------------------------- */

typedef struct proof_ctx {
  store_rd *rd;
  const node *n;
  wire_hello *h;
  uint8_t (*copies)[REC_MAX];
} proof_ctx;

static int proof_one(void *vctx, const trust_event *ev) {
  proof_ctx *p = vctx;
  bool mine = (ev->role == TRUST_MEMBER && !memcmp(ev->subject, p->n->network, KEY_LEN)) ||
              (ev->role == TRUST_NODE && !memcmp(ev->owner, p->n->network, KEY_LEN) &&
               !memcmp(ev->subject, p->n->node_pk, KEY_LEN));
  if (!mine || p->h->nproofs >= WIRE_PROOFS_MAX) return 0;
  const uint8_t *buf;
  size_t len;
  if (store_get(p->rd, ev->hash, &buf, &len)) return 0;
  p->h->proof[p->h->nproofs] = buf;
  p->h->proof_len[p->h->nproofs++] = (uint32_t)len;
  return 0;
}

/* Our own endorsements may still wait in our pending area (we were admitted
 * by a record we have not seen yet): they prove us all the same. */
static int proof_pending(void *vctx, uint64_t seq, const uint8_t *buf, size_t len) {
  proof_ctx *p = vctx;
  rec r;
  trust_event ev;
  (void)seq;
  if (rec_decode(buf, len, &r) || (r.h.kind != REC_ENDORSE) || trust_event_from_record(&r, &ev)) return 0;
  bool mine = (ev.role == TRUST_MEMBER && !memcmp(ev.subject, p->n->network, KEY_LEN)) ||
              (ev.role == TRUST_NODE && !memcmp(ev.owner, p->n->network, KEY_LEN) &&
               !memcmp(ev.subject, p->n->node_pk, KEY_LEN));
  if (mine && p->h->nproofs < WIRE_PROOFS_MAX) {
    p->h->proof[p->h->nproofs] = buf;
    p->h->proof_len[p->h->nproofs++] = (uint32_t)len;
  }
  return 0;
}

void peer_start(conn *c) {
  node *n = c->node;
  static uint8_t msg[WIRE_MSG_MAX];
  wire_hello h;
  size_t len;
  store_rd *rd;
  memset(&h, 0, sizeof h);
  h.version = WIRE_VERSION;
  h.caps = WCAP_PUSH | WCAP_ANNOUNCE | (n->cfg.zstd_level ? WCAP_ZSTD : 0);
  h.node = n->node_pk;
  h.network = n->network;
  h.set_size = n->records;
  h.agent = "stoad/" STOA_VERSION;
  h.agent_len = (uint32_t)strlen(h.agent);
  if (store_rd_begin(n->st, &rd)) { net_close(c, 0, "store"); return; }
  proof_ctx p = { rd, n, &h, NULL };
  store_trust_events(rd, proof_one, &p);
  store_pending_scan(rd, proof_pending, &p);
  int e = wire_encode_hello(&h, msg, sizeof msg, &len);
  store_rd_end(rd);
  if (e) { net_close(c, 0, "cannot encode HELLO"); return; }
  net_send_msg(c, msg, len);
}

static int on_hello(conn *c, const wire_hello *h) {
  node *n = c->node;
  uint8_t x[32];
  char hex[17];
  if (h->version != WIRE_VERSION) { net_close(c, WERR_VERSION, "unsupported protocol version"); return -1; }
  if (noise_pub_from_ed25519(h->node, x) || sodium_memcmp(x, noise_hs_remote_static(&c->hs), 32)) {
    net_close(c, WERR_UNTRUSTED, "node key does not match the handshake");
    return -1;
  }
  /* The proofs are records like any other: verify and ingest them. */
  store_item items[WIRE_PROOFS_MAX];
  uint32_t k = 0;
  for (uint32_t i = 0; i < h->nproofs; i++) {
    store_item *it = &items[k];
    memset(it, 0, sizeof *it);
    it->buf = h->proof[i];
    it->len = h->proof_len[i];
    it->src = h->node;
    if (rec_decode(it->buf, it->len, &it->r) || !rec_kind_is_trust(it->r.h.kind)) continue;
    it->sig_ok = rec_verify(&it->r, n->fed) == 0;
    hashrecent_add(&c->seen, it->r.hash); /* the peer has it: never push it back */
    k++;
  }
  if (k) store_ingest(n->st, items, k, node_now_ms(), NULL);
  store_rd *rd;
  bool ok = false;
  if (!store_rd_begin(n->st, &rd)) {
    const trust_state *t = store_trust(rd);
    uint64_t now = node_now_ms();
    ok = t && trust_is_member(t, h->network, now) && trust_key_valid(t, h->network, h->node, TRUST_NODE, now);
    store_rd_end(rd);
  }
  for (int i = 0; i < 8; i++) snprintf(hex + 2 * i, 3, "%02x", h->node[i]);
  if (!ok) {
    net_close(c, WERR_UNTRUSTED, "node key is not endorsed by a member network");
    return -1;
  }
  memcpy(c->peer_node, h->node, KEY_LEN);
  memcpy(c->peer_network, h->network, KEY_LEN);
  c->peer_caps = h->caps;
  c->peer_set_size = h->set_size;
  c->state = CS_READY;
  if (c->peer_index >= 0) {
    n->peers[c->peer_index].backoff_ms = 0;
    n->peers[c->peer_index].last_error[0] = 0;
  }
  log_info("%s: connected to node %s (%llu records)", c->addr, hex, (unsigned long long)h->set_size);
  c->window = NODE_INFLIGHT_MIN;
  c->rx_mark = c->st->rx_bytes;
  want_attach(c);
  offer_next(c); /* the rest of what an earlier connection was offering */
  peer_push_new(n);
  if (c->initiator) peer_sync_start(c);
  else want_pump(c);
  return 0;
}

/* ---- reconciliation ----------------------------------------------------------------------- */

int peer_sync_start(conn *c) {
  static uint8_t msg[256];
  size_t len, sl;
  uint8_t sym[IBLT_SYM_MAX];
  if (c->state != CS_READY || c->out_sync) return STOA_ESTATE;
  if (want_busy(c)) { /* what is left of the last difference first: cheaper */
    c->sync_deferred = true;
    want_pump(c);
    return 0;
  }
  sync_session *s = session_new(c, ++c->next_session, true);
  if (!s) return STOA_ENOMEM;
  /* The receiver gives up by its own limit; ours only bounds a session
   * with a peer that never answers. */
  uint64_t both = c->peer_set_size + c->node->records, lim = IBLT_INDEX_LIMIT;
  s->limit = both * 4 + 64 > lim ? (uint32_t)lim : (uint32_t)(both * 4 + 64);
  /* Symbols cost ~75 bytes per difference, sent before anything else can
   * flow; our whole set costs 32 bytes per record.  A node that holds far
   * less than its peer (a new one, or one back after a long cut) lists. */
  uint64_t mine = c->node->records, theirs = c->peer_set_size;
  if (theirs > mine && mine * 32 < (theirs - mine) * 64) {
    s->list_seq = 1;
    c->out_sync = s;
    log_debug("%s: sync %u started: listing our %llu records", c->addr, s->id, (unsigned long long)mine);
    peer_pump(c);
    return 0;
  }
  if (iblt_sym_encode(iblt_sketch_sym(&s->snap, 0), sym, sizeof sym, &sl)) { session_free(c->node, s); return STOA_EINVAL; }
  wire_sync w = { s->id, 0, sym, (uint32_t)sl, c->node->records };
  if (wire_encode_sync(&w, msg, sizeof msg, &len)) { session_free(c->node, s); return STOA_EINVAL; }
  s->next = 1;
  c->out_sync = s;
  net_send_msg(c, msg, len);
  log_debug("%s: sync %u started", c->addr, s->id);
  return 0;
}

/* Hashes an offer may run ahead of the peer's asks: about two seconds of
 * the records it acknowledges (taken as 1 KiB each), at least
 * OFFER_CHUNK_MAX, so that on a slow link the offers do not queue far
 * ahead of the records asked for, and at most NODE_WANT_WINDOW, what the
 * peer asks for at once.  On a fast link a small lead would leave the
 * transfer waiting for each next offer. */
static uint64_t offer_ahead(const conn *c) {
  uint64_t a = c->ack_rate * 2 / 1024;
  return a < OFFER_CHUNK_MAX ? OFFER_CHUNK_MAX : a > NODE_WANT_WINDOW ? NODE_WANT_WINDOW : a;
}

/* Sends the next part of the difference we offer: 64, 128, ... hashes,
 * at most offer_ahead and WIRE_WANT_MAX.  False when nothing went. */
static bool offer_next(conn *c) {
  static uint8_t msg[WIRE_MSG_MAX];
  peer_want *w = c->pw;
  size_t len;
  /* All offered: the list stays until the peer has asked for all of it
   * (want_detach), as the last parts may yet be lost in a cut. */
  if (!w || !w->off || w->off_pos >= w->off_n || c->state != CS_READY || c->closing) return false;
  size_t k = w->off_n - w->off_pos, ahead = offer_ahead(c);
  if (k > w->off_chunk) k = w->off_chunk;
  if (k > ahead) k = ahead;
  if (wire_encode_hashes(W_OFFER, w->off + w->off_pos * HASH_LEN, (uint32_t)k, msg, sizeof msg, &len)) return false;
  net_send_msg(c, msg, len);
  c->last_offer_ms = node_now_ms();
  c->offered += k;
  for (size_t i = 0; i < k; i++) hashrecent_add(&c->offered_set, w->off + (w->off_pos + i) * HASH_LEN);
  w->off_pos += k;
  w->off_chunk = w->off_chunk * 2 > WIRE_WANT_MAX ? WIRE_WANT_MAX : w->off_chunk * 2;
  return true;
}

/* Forgets what we offer this peer (after a cut it is not offered again;
 * a sync finds what the peer still lacks). */
static void offer_drop(conn *c) {
  free(c->pw->off);
  c->pw->off = NULL;
  c->pw->off_n = c->pw->off_pos = 0;
  hashrecent_free(&c->offered_set);
}

/* Writes the hashes of e[0..k) to out in the order we send records
 * (trust records, then newest), so that the peer asks in that order. */
static void prio_order(struct sendq_ent *e, size_t k, uint8_t *out) {
  qsort(e, k, sizeof *e, prio_cmp);
  for (size_t i = 0; i < k; i++) memcpy(out + i * HASH_LEN, e[i].h, HASH_LEN);
}

/* The same for hashes of records we hold, looked up. */
static void sort_by_prio(node *n, uint8_t *hashes, size_t k) {
  struct sendq_ent *e = malloc(k * sizeof *e + 1);
  store_rd *rd;
  if (!e || store_rd_begin(n->st, &rd)) { free(e); return; }
  for (size_t i = 0; i < k; i++) {
    const uint8_t *buf;
    size_t len;
    rec_header h;
    memcpy(e[i].h, hashes + i * HASH_LEN, HASH_LEN);
    e[i].prio = store_get(rd, e[i].h, &buf, &len) || rec_peek_header(buf, len, &h) ? 0 : send_prio(&h);
  }
  store_rd_end(rd);
  prio_order(e, k, hashes);
  free(e);
}

/* The difference is known: what we lack (want) and what the peer lacks
 * (give, in send order).  Answers DONE, asks, offers, and closes the
 * session. */
static void finish_diff(conn *c, sync_session *s, const uint8_t *want, uint32_t nr, uint8_t *give,
                        uint32_t nl, const char *how) {
  static uint8_t msg[WIRE_MSG_MAX];
  size_t len;
  uint32_t n = nl + nr;
  wire_done d = { s->id, 0, nl, nr };
  if (!wire_encode_done(&d, msg, sizeof msg, &len)) net_send_msg(c, msg, len);
  /* Both directions are pulls: we ask for what we lack, and offer what
   * the peer lacks so that it asks.  This sync's result replaces what an
   * earlier connection left to ask for. */
  want_clear(c);
  want_add(c, want, nr);
  peer_want *w = c->pw;
  if (w) { /* offered a part at a time, at the pace of the transfer */
    free(w->off);
    w->off = NULL;
    w->off_n = w->off_pos = 0;
    if (nl && (w->off = malloc((size_t)nl * HASH_LEN))) {
      memcpy(w->off, give, (size_t)nl * HASH_LEN);
      w->off_n = nl;
      w->off_chunk = 64;
      c->off_start = 0;
      hashrecent_free(&c->offered_set);
      c->offered = c->offered_asked = 0;
      offer_next(c);
    }
  } else { /* a second connection to the same node: no state, all at once */
    for (uint32_t off = 0; off < nl; off += WIRE_WANT_MAX) {
      uint32_t k = nl - off < WIRE_WANT_MAX ? nl - off : WIRE_WANT_MAX;
      if (!wire_encode_hashes(W_OFFER, give + (size_t)off * HASH_LEN, k, msg, sizeof msg, &len)) net_send_msg(c, msg, len);
    }
  }
  c->st->last_sync_ms = node_now_ms();
  c->st->last_sync_equal = n == 0;
  log_info("%s: sync %u: %s (%s; offering %u, asking for %u)", c->addr, s->id,
           n ? "sets differ" : "sets equal", how, nl, nr);
  s->done = true;
  session_release(c->node, s);
}

static void finish_receive(conn *c, sync_session *s) {
  uint32_t n = iblt_decoder_count(&s->dec), nl = 0, nr = 0;
  uint8_t *want = malloc((size_t)n * HASH_LEN + 1), *give = malloc((size_t)n * HASH_LEN + 1);
  char how[48];
  if (!want || !give) { free(want); free(give); net_close(c, 0, "out of memory"); return; }
  for (uint32_t i = 0; i < n; i++) {
    int side;
    const uint8_t *it = iblt_decoder_item(&s->dec, i, &side);
    if (side == IBLT_REMOTE) memcpy(want + (size_t)nr++ * HASH_LEN, it, HASH_LEN);
    else memcpy(give + (size_t)nl++ * HASH_LEN, it, HASH_LEN);
  }
  snprintf(how, sizeof how, "%u symbols", s->dec.m);
  sort_by_prio(c->node, give, nl);
  finish_diff(c, s, want, nr, give, nl, how);
  free(want);
  free(give);
}

/* A LIST part: the peer's whole set arrives instead of symbols.  We note
 * what it holds and what of it we lack; at the last part, our records it
 * lacks are the rest of the difference.  O(our set) once. */
typedef struct give_ctx { const hashset *listed; struct sendq_ent *e; size_t n, cap; uint64_t upto; } give_ctx;

static int give_one(void *vctx, uint64_t seq, const uint8_t *buf, size_t len) {
  give_ctx *g = vctx;
  rec r;
  if (seq > g->upto) return 1;
  if (rec_peek(buf, len, &r) || hashset_has(g->listed, r.hash)) return 0;
  return ents_push(&g->e, &g->n, &g->cap, r.hash, send_prio(&r.h));
}

static void on_list(conn *c, const wire_list *l) {
  sync_session *s = c->in_sync;
  if (!s || s->id != l->session) {
    session_free(c->node, s);
    c->in_sync = s = session_new(c, l->session, false);
    if (!s) { net_close(c, 0, "out of memory"); return; }
  }
  if (s->done) return;
  if (s->listed.n + l->n > NODE_WANT_LIST_MAX) { net_close(c, WERR_PROTOCOL, "LIST too long"); return; }
  store_rd *rd;
  if (store_rd_begin(c->node->st, &rd)) { net_close(c, 0, "store"); return; }
  for (uint32_t i = 0; i < l->n; i++) {
    const uint8_t *h = l->hashes + (size_t)i * HASH_LEN;
    if (hashset_add(&s->listed, h)) break;
    if (!store_known(rd, h) && hashes_push(&s->lwant, &s->lwant_n, &s->lwant_cap, h)) break;
  }
  if (!l->last) { store_rd_end(rd); return; }
  give_ctx g = { &s->listed, NULL, 0, 0, s->snap_seq };
  int e = store_scan(rd, 1, give_one, &g);
  store_rd_end(rd);
  uint8_t *give = malloc(g.n * HASH_LEN + 1);
  if (e < 0 || !give) {
    free(g.e);
    free(give);
    net_close(c, 0, "out of memory");
    return;
  }
  prio_order(g.e, g.n, give);
  free(g.e);
  char how[48];
  snprintf(how, sizeof how, "a list of %zu", s->listed.n);
  finish_diff(c, s, s->lwant, (uint32_t)s->lwant_n, give, (uint32_t)g.n, how);
  free(give);
}

static void on_sync(conn *c, const wire_sync *w) {
  static uint8_t msg[64];
  size_t len;
  sync_session *s = c->in_sync;
  if (!s || s->id != w->session) {
    if (w->first != 0) return; /* the rest of a session we have closed */
    session_free(c->node, s);
    c->in_sync = s = session_new(c, w->session, false);
    if (!s) { net_close(c, 0, "out of memory"); return; }
  }
  if (s->done) return;
  const uint8_t *p = w->syms, *end = w->syms + w->syms_len;
  uint32_t idx = w->first;
  while (p < end && !s->done) {
    iblt_sym y;
    size_t used;
    if (iblt_sym_decode(&y, p, (size_t)(end - p), &used)) { net_close(c, WERR_PROTOCOL, "malformed symbol"); return; }
    p += used;
    if (idx++ != s->dec.m) continue; /* a repeat */
    /* All decoders together hold at most [limits] max_sync_symbols: past
     * it this one gives up as if its own limit were reached. */
    node *n = c->node;
    bool budget = n->dec_symbols >= n->cfg.max_sync_symbols;
    const iblt_sym *mine = budget || s->dec.m < s->snap.cap ? NULL : ext_sym(c, s, s->dec.m);
    uint32_t m0 = s->dec.m;
    int e = budget ? STOA_ETOOBIG : iblt_decoder_add(&s->dec, &y, mine);
    n->dec_symbols += s->dec.m - m0;
    if (!e && !iblt_decoder_complete(&s->dec) && s->dec.m >= s->dec.max) e = STOA_ETOOBIG;
    if (e == STOA_ETOOBIG) {
      wire_done d = { s->id, 1, 0, 0 };
      if (!wire_encode_done(&d, msg, sizeof msg, &len)) net_send_msg(c, msg, len);
      log_warn("%s: sync %u: difference too large to decode%s; offering every record instead", c->addr, s->id,
               budget ? " (the node's decoders hold [limits] max_sync_symbols)" : "");
      s->done = true;
      session_release(c->node, s);
      if (!c->offer_seq) c->offer_seq = 1;
      peer_pump(c);
      return;
    }
    if (e) { net_close(c, WERR_PROTOCOL, "reconciliation failed: inconsistent symbols"); return; }
    if (iblt_decoder_complete(&s->dec)) { finish_receive(c, s); return; }
  }
  if (w->first == 0 && !s->done) {
    wire_more m = { s->id, s->dec.m };
    if (!wire_encode_more(&m, msg, sizeof msg, &len)) net_send_msg(c, msg, len);
  }
}

static void on_done(conn *c, const wire_done *d) {
  sync_session *s = c->out_sync;
  if (!s || s->id != d->session) return;
  c->st->last_sync_ms = node_now_ms();
  c->st->last_sync_equal = d->status == 0 && d->will_send == 0 && d->wants == 0;
  if (c->pw) { /* it offers them a part at a time: count them as coming */
    c->pw->come = d->will_send;
    c->pw->got = 0;
    c->pw->got_ms = node_now_ms();
  }
  log_info("%s: sync %u done: %llu records coming, %llu asked for", c->addr, s->id,
           (unsigned long long)d->will_send, (unsigned long long)d->wants);
  if (d->status) { /* the fallback: each side offers all its hashes */
    log_warn("%s: sync %u: the peer could not decode the difference; offering every record", c->addr, s->id);
    if (!c->offer_seq) c->offer_seq = 1;
  }
  session_free(c->node, s);
  c->out_sync = NULL;
  malloc_trim(0);
  ctl_sync_done(c);
  peer_pump(c);
}

/* ---- receiving records ------------------------------------------------------------------------ */

struct rxbatch {
  rxbatch *next;
  conn *c;
  uv_work_t work;
  uint8_t *data;                        /* the RECORDS message's records, copied */
  char *toks;                           /* their search tokens (store_item_prepare) */
  size_t toks_cap;
  size_t bytes;
  store_item *items;
  uint32_t n;
  bool verified;
};

/* In the thread pool: signatures, and the schema and search tokens, so that
 * the loop only commits. */
static void verify_work(uv_work_t *w) {
  rxbatch *b = w->data;
  char tmp[STORE_TOKS_MAX];
  size_t used = 0;
  for (uint32_t i = 0; i < b->n; i++) {
    store_item *it = &b->items[i];
    it->sig_ok = rec_verify(&it->r, b->c->node->fed) == 0;
    if (!it->sig_ok) continue;
    store_item_prepare(it, tmp, sizeof tmp);
    if (it->toks && b->toks && it->toks_len <= b->toks_cap - used) {
      memcpy(b->toks + used, it->toks, it->toks_len);
      it->toks = b->toks + used;
      used += it->toks_len;
    } else {
      it->toks = NULL; /* store_ingest computes them */
    }
  }
}

static void commit_soon(uv_timer_t *t) { node_commit(t->data); }
static bool records_coming(const node *n);

/* Commits the verified batches now, or soon.  Now when they are many
 * (NODE_BATCH records, or half the largest window in bytes: the sender,
 * which waits for their ACK, must not run out of window while we commit),
 * when the first of them has waited NODE_COMMIT_WAIT_MS, or when the node
 * stops.  Else, while more records are on their way (being verified, or
 * asked for and not yet here), once none has come for NODE_COMMIT_IDLE_MS:
 * a sender waiting for our ACK (a small window, early in a transfer) is
 * not kept waiting, and a stream of records costs few commits - each one
 * writes every page it touches and syncs.  A record nobody asked for (a
 * push) lands at once. */
static void commit_maybe(node *n) {
  size_t recs = 0, bytes = 0, nb = 0, skip = n->committing ? n->commit_nb : 0; /* those are being committed */
  for (const rxbatch *x = n->batches; x; x = x->next)
    if (skip) skip--;
    else if (x->verified) recs += x->n, bytes += x->bytes, nb++;
  if (!nb) return; /* (a batch of no valid record is still acknowledged) */
  uint64_t now = uv_now(n->loop);
  if (!n->batch_since) n->batch_since = now;
  uint64_t waited = now - n->batch_since;
  if (recs >= NODE_BATCH || bytes >= NODE_INFLIGHT_MAX / 2 || waited >= NODE_COMMIT_WAIT_MS || n->stopping) {
    node_commit(n);
    return;
  }
  uint64_t delay = records_coming(n) ? NODE_COMMIT_IDLE_MS : 2;
  if (delay > NODE_COMMIT_WAIT_MS - waited) delay = NODE_COMMIT_WAIT_MS - waited;
  uv_timer_start(&n->commit_timer, commit_soon, delay, 0); /* (re)started: counts from the last record */
}

static bool records_coming(const node *n) {
  if (n->jobs) return true;
  for (const conn *c = n->conns; c; c = c->next)
    if (c->want_out && c->state == CS_READY && !c->closing) return true;
  return false;
}

static void verify_done(uv_work_t *w, int status) {
  rxbatch *b = w->data;
  node *n = b->c->node;
  (void)status;
  b->verified = true;
  n->jobs--;
  commit_maybe(n);
}

/* Received record bytes waiting for verification or commit, all peers
 * together ([limits] max_rx_queue).  O(connections), once per RECORDS
 * message and per commit. */
static uint64_t rx_queued_all(const node *n) {
  uint64_t t = 0;
  for (const conn *c = n->conns; c; c = c->next) t += c->rx_queued;
  return t;
}

static void on_records(conn *c, wire_records *wr) {
  node *n = c->node;
  const uint8_t *buf;
  size_t len, total = 0;
  wire_records it = *wr;
  while (wire_records_next(&it, &buf, &len) == 1) total += len;
  rxbatch *b = calloc(1, sizeof *b);
  if (!b || !(b->data = malloc(total + 1)) || !(b->items = calloc(wr->n + 1, sizeof *b->items))) {
    if (b) { free(b->data); free(b); }
    net_close(c, 0, "out of memory");
    return;
  }
  b->c = c;
  c->refs++;
  size_t off = 0;
  while (wire_records_next(wr, &buf, &len) == 1) {
    store_item *x = &b->items[b->n];
    memcpy(b->data + off, buf, len);
    x->buf = b->data + off;
    x->len = len;
    x->src = c->peer_node; /* its share of the pending area (the batch holds c) */
    off += len;
    c->st->rx_records++;
    if (rec_decode(x->buf, x->len, &x->r)) continue; /* counted, never stored */
    hashrecent_add(&c->seen, x->r.hash);
    b->n++;
  }
  b->bytes = total;
  want_on_records(c, wr->n);
  b->toks_cap = total + STORE_TOKS_MAX;
  b->toks = malloc(b->toks_cap); /* NULL: tokens computed at commit */
  c->rx_queued += total;
  if (c->rx_queued > NODE_RXQUEUE_MAX || rx_queued_all(n) > n->cfg.max_rx_queue) c->read_paused = true;

  /* Append: batches commit in arrival order. */
  rxbatch **pp = &n->batches;
  while (*pp) pp = &(*pp)->next;
  *pp = b;
  b->work.data = b;
  n->jobs++;
  if (uv_queue_work(n->loop, &b->work, verify_work, verify_done)) {
    verify_work(&b->work);
    verify_done(&b->work, 0);
  }
}

/* The commit runs in the thread pool, so that the loop goes on reading,
 * verifying and answering while a batch is written and synced (a large
 * one takes a few hundred milliseconds).  One commit at a time; the loop
 * reads the store meanwhile (store_writer_busy).  Big buffers for the
 * items of one commit: only one exists at a time. */
static store_item *commit_items;
static size_t commit_cap;

static void commit_work(uv_work_t *w) {
  node *n = w->data;
  n->commit_err = store_ingest_bg(n->st, commit_items, n->commit_k, node_now_ms(), &n->commit_cnt);
}

static void commit_done(uv_work_t *w, int status);

/* Commits the verified batches at the head of the queue in one
 * transaction (in the thread pool), then counts them and pushes what was
 * new (commit_done).  Nothing when a commit is running: its end starts
 * the next. */
void node_commit(node *n) {
  size_t total = 0, nb = 0, bytes = 0;
  rxbatch *b;
  if (n->committing || !n->batches || !n->batches->verified) return;
  for (b = n->batches; b && b->verified; b = b->next) total += b->n, bytes += b->bytes, nb++;
  if (total > commit_cap) {
    store_item *p = realloc(commit_items, total * sizeof *p);
    if (!p) return; /* the timer, or the next verified batch, tries again */
    commit_items = p;
    commit_cap = total;
  }
  uv_timer_stop(&n->commit_timer);
  size_t k = 0;
  for (b = n->batches; b && b->verified; b = b->next) {
    memcpy(commit_items + k, b->items, b->n * sizeof *commit_items);
    k += b->n;
  }
  n->commit_nb = nb;
  n->commit_k = k;
  n->batch_since = 0; /* the next batch's first record starts the clock */
  n->commit_cnt = (store_counts){ 0 };
  /* Room for the batch (stored, a record takes about three times its
   * bytes; the copies a transaction makes, as much again), so that the
   * commit need not come back to this thread to grow the map. */
  store_reserve(n->st, 6 * bytes + ((size_t)16 << 20));
  n->committing = true;
  n->commit_work.data = n;
  store_writer_busy(n->st, true);
  if (uv_queue_work(n->loop, &n->commit_work, commit_work, commit_done)) {
    store_writer_busy(n->st, false);
    n->commit_err = store_ingest(n->st, commit_items, k, node_now_ms(), &n->commit_cnt);
    commit_done(&n->commit_work, 0);
  }
}

static void commit_done(uv_work_t *w, int status) {
  node *n = w->data;
  int e = n->commit_err;
  size_t k = 0;
  (void)status;
  store_writer_busy(n->st, false);
  if (e == -EAGAIN) { /* the map must grow (or the store be reopened): here, where no read is open */
    n->commit_cnt = (store_counts){ 0 };
    e = store_ingest(n->st, commit_items, n->commit_k, node_now_ms(), &n->commit_cnt);
  }
  if (e) log_error("commit of %zu records failed: %s", n->commit_k, stoa_strerror(e));
  n->ingested += n->commit_cnt.fresh;
  for (size_t i = 0; i < n->commit_nb; i++) {
    rxbatch *b = n->batches;
    n->batches = b->next;
    conn *c = b->c;
    size_t fresh = 0, bad = 0, dup = 0;
    int why = 0;
    for (uint32_t j = 0; j < b->n; j++, k++)
      if (e) continue; /* the transaction was rolled back: nothing to count */
      else if (commit_items[k].status == ST_NEW) fresh++;
      else if (commit_items[k].status == ST_KNOWN) dup++;
      else if (commit_items[k].status == ST_PENDING) c->st->rx_pending++;
      else if (commit_items[k].status == ST_REJECTED) { bad++; why = commit_items[k].err; }
    c->st->rx_dup += dup;
    if (bad) /* an honest node never sends these: say so where operators look */
      log_warn("%s: rejected %zu invalid record(s) from this peer (%s)", c->addr, bad, stoa_strerror(why));
    c->st->rx_new += fresh;
    c->rx_queued -= b->bytes;
    if (!e && !c->closing && c->state == CS_READY) {
      uint8_t m[32];
      size_t len;
      wire_ack a = { b->n, c->rx_queued };
      if (!wire_encode_ack(&a, m, sizeof m, &len)) net_send_msg(c, m, len);
    }
    conn_unref(c);
    free(b->data);
    free(b->toks);
    free(b->items);
    free(b);
  }
  n->committing = false;
  /* Reading resumes when the peer's own queue and all peers' together are
   * half empty (a peer may have been paused by the others' records). */
  if (rx_queued_all(n) <= n->cfg.max_rx_queue / 2)
    for (conn *c = n->conns; c; c = c->next)
      if (c->rx_queued <= NODE_RXQUEUE_MAX / 2) net_resume(c);
  peer_push_new(n);
  commit_maybe(n); /* what was verified meanwhile */
}

/* ---- push ----------------------------------------------------------------------------------------- */

typedef struct follow_ctx { node *n; uint64_t last; const trust_state *trust; } follow_ctx;

static int follow_one(void *vctx, uint64_t seq, const uint8_t *buf, size_t len) {
  follow_ctx *f = vctx;
  rec r;
  f->last = seq;
  if (rec_peek(buf, len, &r)) return 0;
  iblt_sketch_add(&f->n->sketch, r.hash);
  f->n->records++;
  /* The address book (peers.c) learns from valid peer records only: a
   * void one (its key revoked) is held but must not steer our dialing. */
  if (r.h.kind == REC_PEER && f->trust && trust_check(f->trust, &r.h) == 0) peers_learn(f->n, &r);
  /* A record a peer sent us is relayed by announcing its hash: on a mesh
   * most peers have it already, from its origin or another relay, and ask
   * for it only when they lack it.  Our own (CLI, bundle) goes whole. */
  bool relayed = false;
  for (conn *c = f->n->conns; c && !relayed; c = c->next) relayed = hashrecent_has(&c->seen, r.hash);
  for (conn *c = f->n->conns; c; c = c->next) {
    if (c->state != CS_READY || c->closing || !(c->peer_caps & WCAP_PUSH) || hashrecent_has(&c->seen, r.hash))
      continue;
    if (relayed && (c->peer_caps & WCAP_ANNOUNCE)) {
      /* Past the bound the next sync finds it: pushing is best effort. */
      if (c->ann_n - c->ann_pos < NODE_ANNOUNCE_MAX) (void)hashes_push(&c->ann, &c->ann_n, &c->ann_cap, r.hash);
    } else if (!sendq_push(c, r.hash, send_prio(&r.h))) {
      c->sendq_pushed = true;
    }
  }
  return 0;
}

/* Follows the store's insertion sequence: every record accepted since the
 * last call - from peers, bundles or the CLI - joins the sketch and is
 * pushed to the peers that may lack it. */
void peer_push_new(node *n) {
  store_rd *rd;
  if (store_rd_begin(n->st, &rd)) return;
  follow_ctx f = { n, n->seq, store_trust(rd) };
  store_scan(rd, n->seq + 1, follow_one, &f);
  store_rd_end(rd);
  n->seq = f.last;
  for (conn *c = n->conns; c; c = c->next)
    if (c->sendq_n || c->ann_n) peer_pump(c);
}

/* ---- dispatch ---------------------------------------------------------------------------------------- */

static void dispatch(conn *c, wire_msg *mp, bool inner);

/* A ZIP message: the next piece of the peer's zstd stream, holding one
 * message.  Its output is bounded by raw_len <= WIRE_MSG_MAX. */
static void on_zip(conn *c, const wire_zip *z) {
  static uint8_t raw[WIRE_MSG_MAX + 1];
  wire_msg m;
  if (!c->node->cfg.zstd_level) { net_close(c, WERR_PROTOCOL, "ZIP without the zstd capability"); return; }
  if (!c->zrx && zip_rx_new(&c->zrx)) { net_close(c, 0, "out of memory"); return; }
  int e = zip_rx_msg(c->zrx, z->data, z->len, raw, sizeof raw, z->raw_len);
  if (!e) e = wire_decode(raw, z->raw_len, &m);
  if (e) { net_close(c, WERR_PROTOCOL, stoa_strerror(e)); return; }
  dispatch(c, &m, true);
}

void peer_on_msg(conn *c, const uint8_t *buf, size_t len) {
  wire_msg m;
  int e = wire_decode(buf, len, &m);
  if (e) { net_close(c, WERR_PROTOCOL, stoa_strerror(e)); return; }
  if (c->state == CS_HELLO) {
    if (m.type != W_HELLO) { net_close(c, WERR_PROTOCOL, "expected HELLO"); return; }
    on_hello(c, &m.u.hello);
    return;
  }
  dispatch(c, &m, false);
}

static void dispatch(conn *c, wire_msg *mp, bool inner) {
  static uint8_t out[32];
  wire_msg m = *mp;
  size_t ol;
  switch (m.type) {
  case W_SYNC: on_sync(c, &m.u.sync); break;
  case W_MORE:
    if (c->out_sync && c->out_sync->id == m.u.more.session && m.u.more.next >= 1) {
      c->out_sync->next = m.u.more.next;
      c->out_sync->streaming = true;
      peer_pump(c);
    }
    break;
  case W_DONE: on_done(c, &m.u.done); break;
  case W_WANT:
    c->last_want_ms = node_now_ms();
    for (uint32_t i = 0; i < m.u.want.n && c->offered; i++)
      c->offered_asked += hashrecent_has(&c->offered_set, m.u.want.hashes + (size_t)i * HASH_LEN);
    enqueue_records(c, m.u.want.hashes, m.u.want.n);
    /* Offer more while the peer has asked for most of what we offered. */
    while (c->pw && c->pw->off && c->offered + OFFER_CHUNK_MAX / 2 <= c->offered_asked + offer_ahead(c) &&
           offer_next(c)) {}
    /* All offered and all asked for: nothing is left to offer again after
     * a cut, and the list (32 bytes a record) can go now rather than at
     * the next sync. */
    if (c->pw && c->pw->off && c->pw->off_pos >= c->pw->off_n &&
        c->off_start + c->offered_asked >= c->pw->off_n)
      offer_drop(c);
    break;
  case W_OFFER: want_offered(c, m.u.want.hashes, m.u.want.n); break;
  case W_ANNOUNCE:
    c->st->rx_announced += m.u.want.n;
    want_announced(c, m.u.want.hashes, m.u.want.n);
    break;
  case W_LIST: on_list(c, &m.u.list); break;
  case W_ZIP:
    if (inner) { net_close(c, WERR_PROTOCOL, "ZIP inside ZIP"); break; }
    on_zip(c, &m.u.zip);
    break;
  case W_RECORDS: on_records(c, &m.u.records); break;
  case W_ACK:
    c->peer_waiting = m.u.ack.waiting;
    if (c->nin) {
      size_t a = c->inflight_msgs[0] <= c->inflight ? c->inflight_msgs[0] : c->inflight;
      c->inflight -= a;
      c->acked += a;
      /* Between ticks the window grows by what is acknowledged (it doubles
       * each round trip); each tick sets it from the measured rate. */
      c->window = c->window + a > NODE_INFLIGHT_MAX ? NODE_INFLIGHT_MAX : c->window + a;
      memmove(c->inflight_msgs, c->inflight_msgs + 1, --c->nin * sizeof *c->inflight_msgs);
    }
    peer_pump(c);
    break;
  case W_PING:
    if (!wire_encode_u64(W_PONG, m.u.nonce, out, sizeof out, &ol)) net_send_msg(c, out, ol);
    break;
  case W_PONG: break;
  case W_ERROR:
    log_warn("%s: peer says: %.*s", c->addr, (int)m.u.error.reason_len, m.u.error.reason);
    net_close(c, 0, NULL);
    break;
  case W_HELLO: net_close(c, WERR_PROTOCOL, "HELLO twice"); break;
  default: net_close(c, WERR_PROTOCOL, "unexpected message"); break;
  }
}

/* Every second: the window follows the acknowledged rate (about four
 * seconds of it), so that a slow link holds little in flight - what a
 * cut loses - while a fast one is not throttled; and stalled asking
 * resumes. */
/* A peer stays trusted only while its node key is endorsed by a member
 * network: a revocation (`stoa key rotate`, `key revoke`) or a removal
 * that arrived since the handshake closes its connections. */
static void trust_recheck(node *n, uint64_t now) {
  store_rd *rd;
  bool any = false;
  for (conn *c = n->conns; c && !any; c = c->next) any = c->state == CS_READY && !c->closing;
  if (!any || store_rd_begin(n->st, &rd)) return;
  const trust_state *t = store_trust(rd);
  for (conn *c = n->conns; c && t; c = c->next) {
    if (c->state != CS_READY || c->closing) continue;
    if (!trust_is_member(t, c->peer_network, now) ||
        !trust_key_valid(t, c->peer_network, c->peer_node, TRUST_NODE, now))
      net_close(c, WERR_UNTRUSTED, "node key revoked, or its network removed");
  }
  store_rd_end(rd);
}

void peer_tick(node *n) {
  uint64_t now = node_now_ms();
  trust_recheck(n, now);
  for (conn *c = n->conns; c; c = c->next) {
    if (c->state != CS_READY || c->closing) continue;
    if (c->acked || !c->inflight) c->ack_rate = (c->ack_rate * 7 + c->acked * 3) / 10;
    c->acked = 0;
    c->rx_rate = (c->rx_rate * 7 + (c->st->rx_bytes - c->rx_mark) * 3) / 10;
    c->rx_mark = c->st->rx_bytes;
    uint64_t w = c->ack_rate * 4;
    c->window = w < NODE_INFLIGHT_MIN ? NODE_INFLIGHT_MIN : w > NODE_INFLIGHT_MAX ? NODE_INFLIGHT_MAX : w;
    want_tick(c, now);
    /* The peer asked for nothing for a while and we have nothing to send:
     * it may hold all we offered last.  Offer more. */
    if (c->pw && c->pw->off && c->sendq_pos >= c->sendq_n && !c->inflight &&
        now - c->last_offer_ms > 5000 && now - c->last_want_ms > 5000)
      offer_next(c);
    /* All offered, and a minute without a WANT on a live connection: the
     * peer holds what it wanted of it.  The list goes. */
    if (c->pw && c->pw->off && c->pw->off_pos >= c->pw->off_n && now - c->last_want_ms > 60000 &&
        now - c->last_offer_ms > 60000)
      offer_drop(c);
    peer_pump(c);
  }
}

void peer_on_closed(conn *c) {
  want_detach(c);
  hashrecent_free(&c->offered_set);
  zip_tx_free(c->ztx);
  zip_rx_free(c->zrx);
  c->ztx = NULL;
  c->zrx = NULL;
  session_free(c->node, c->out_sync);
  session_free(c->node, c->in_sync);
  c->out_sync = c->in_sync = NULL;
  if (c->ctl_waiting) ctl_sync_done(c);
}
