/*
 * peer.c - the protocol after the handshake: HELLO, reconciliation
 * sessions, record transfer with flow control, and push
 * (docs/protocol.md §3).
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "config.h"
#include "node/node.h"
#include "proto/err.h"
#include "proto/trust.h"

#define SYNC_MAX_SYMBOLS (1u << 20)
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
} sync_session;

static void session_free(sync_session *s) {
  if (!s) return;
  iblt_sketch_free(&s->snap);
  if (!s->sender) iblt_decoder_free(&s->dec);
  free(s->ext);
  free(s);
}

/* Gives back a finished session's memory at once (the decoder of a large
 * difference holds ~144 bytes per symbol), keeping its id so that late
 * symbols are recognised and ignored. */
static void session_release(sync_session *s) {
  if (!s->sender) iblt_decoder_free(&s->dec); /* both free functions zero their struct */
  iblt_sketch_free(&s->snap);
  free(s->ext);
  s->ext = NULL;
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
  if (!sender && iblt_decoder_init(&s->dec, &s->snap, SYNC_MAX_SYMBOLS)) {
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
  if (rec_decode(buf, len, &r)) return 0;
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

static int sendq_push(conn *c, const uint8_t h[HASH_LEN]) {
  if (c->sendq_n == c->sendq_cap) {
    size_t nc = c->sendq_cap ? c->sendq_cap * 2 : 1024;
    uint8_t *p = realloc(c->sendq, nc * HASH_LEN);
    if (!p) return STOA_ENOMEM;
    c->sendq = p;
    c->sendq_cap = nc;
  }
  memcpy(c->sendq + c->sendq_n++ * HASH_LEN, h, HASH_LEN);
  return 0;
}

/* Queues hashes to send, trust records first (so that the receiver can
 * validate the rest at once). */
static void enqueue_records(conn *c, const uint8_t *hashes, size_t n) {
  store_rd *rd;
  uint8_t *rest = malloc(n + 1); /* 1: not a trust record, queue it second */
  if (!rest || store_rd_begin(c->node->st, &rd)) { free(rest); return; }
  for (size_t i = 0; i < n; i++) { /* one read of each record */
    const uint8_t *buf;
    size_t len;
    rec r;
    rest[i] = 0;
    if (store_get(rd, hashes + i * HASH_LEN, &buf, &len) || rec_decode(buf, len, &r)) continue;
    if (rec_kind_is_trust(r.h.kind)) sendq_push(c, r.hash);
    else rest[i] = 1;
  }
  for (size_t i = 0; i < n; i++)
    if (rest[i]) sendq_push(c, hashes + i * HASH_LEN);
  store_rd_end(rd);
  free(rest);
  peer_pump(c);
}

/* Sends what the window allows: records from the send queue, and symbols
 * of a streaming session. */
void peer_pump(conn *c) {
  node *n = c->node;
  static uint8_t msg[WIRE_MSG_MAX];
  if (c->state != CS_READY || c->closing) return;
  sync_session *s = c->out_sync;
  while (s && s->streaming && !s->done && c->out_bytes < OUT_HIGH && s->next < s->limit) {
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
  if (c->sendq_pos >= c->sendq_n) return;
  store_rd *rd;
  if (store_rd_begin(n->st, &rd)) return;
  while (c->sendq_pos < c->sendq_n && c->inflight < NODE_INFLIGHT_MAX && c->out_bytes < OUT_HIGH) {
    const uint8_t *recs[WIRE_RECORDS_MAX];
    size_t lens[WIRE_RECORDS_MAX], total = WIRE_RECORDS_OVERHEAD, len;
    uint32_t k = 0;
    while (c->sendq_pos < c->sendq_n && k < WIRE_RECORDS_MAX) {
      const uint8_t *h = c->sendq + c->sendq_pos * HASH_LEN;
      const uint8_t *buf;
      size_t blen;
      if (hashset_has(&c->seen, h) || store_get(rd, h, &buf, &blen)) { c->sendq_pos++; continue; }
      if (total + blen + WIRE_RECORD_OVERHEAD > WIRE_MSG_MAX) break;
      recs[k] = buf;
      lens[k++] = blen;
      total += blen + WIRE_RECORD_OVERHEAD;
      hashset_add(&c->seen, h);
      c->sendq_pos++;
    }
    if (!k) continue;
    if (wire_encode_records(recs, lens, k, msg, sizeof msg, &len)) break;
    net_send_msg(c, msg, len);
    c->st.tx_records += k;
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
  if (c->sendq_pos == c->sendq_n) c->sendq_pos = c->sendq_n = 0;
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
  h.caps = WCAP_PUSH;
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
    if (rec_decode(it->buf, it->len, &it->r) || !rec_kind_is_trust(it->r.h.kind)) continue;
    it->sig_ok = rec_verify(&it->r, n->fed) == 0;
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
  peer_push_new(n);
  if (c->initiator) peer_sync_start(c);
  return 0;
}

/* ---- reconciliation ----------------------------------------------------------------------- */

int peer_sync_start(conn *c) {
  static uint8_t msg[256];
  size_t len, sl;
  uint8_t sym[IBLT_SYM_MAX];
  if (c->state != CS_READY || c->out_sync) return STOA_ESTATE;
  sync_session *s = session_new(c, ++c->next_session, true);
  if (!s) return STOA_ENOMEM;
  uint64_t both = c->peer_set_size + c->node->records;
  s->limit = both * 4 + 64 > SYNC_MAX_SYMBOLS ? SYNC_MAX_SYMBOLS : (uint32_t)(both * 4 + 64);
  if (iblt_sym_encode(iblt_sketch_sym(&s->snap, 0), sym, sizeof sym, &sl)) { session_free(s); return STOA_EINVAL; }
  wire_sync w = { s->id, 0, sym, (uint32_t)sl, c->node->records };
  if (wire_encode_sync(&w, msg, sizeof msg, &len)) { session_free(s); return STOA_EINVAL; }
  s->next = 1;
  c->out_sync = s;
  net_send_msg(c, msg, len);
  log_debug("%s: sync %u started", c->addr, s->id);
  return 0;
}

static void finish_receive(conn *c, sync_session *s) {
  static uint8_t msg[WIRE_MSG_MAX];
  size_t len;
  uint32_t n = iblt_decoder_count(&s->dec), nl = 0, nr = 0;
  uint8_t *want = malloc((size_t)n * HASH_LEN + 1), *give = malloc((size_t)n * HASH_LEN + 1);
  if (!want || !give) { free(want); free(give); net_close(c, 0, "out of memory"); return; }
  for (uint32_t i = 0; i < n; i++) {
    int side;
    const uint8_t *it = iblt_decoder_item(&s->dec, i, &side);
    if (side == IBLT_REMOTE) memcpy(want + (size_t)nr++ * HASH_LEN, it, HASH_LEN);
    else memcpy(give + (size_t)nl++ * HASH_LEN, it, HASH_LEN);
  }
  /* Send in random order: a receiver killed mid-transfer then holds a random
   * part of the difference, and the next sync decodes the rest in about
   * 1.35 symbols per remaining record instead of as many as the first. */
  for (uint32_t i = nl; i > 1; i--) {
    uint32_t j = randombytes_uniform(i);
    uint8_t t[HASH_LEN];
    memcpy(t, give + (size_t)(i - 1) * HASH_LEN, HASH_LEN);
    memcpy(give + (size_t)(i - 1) * HASH_LEN, give + (size_t)j * HASH_LEN, HASH_LEN);
    memcpy(give + (size_t)j * HASH_LEN, t, HASH_LEN);
  }
  wire_done d = { s->id, 0, nl, nr };
  if (!wire_encode_done(&d, msg, sizeof msg, &len)) net_send_msg(c, msg, len);
  for (uint32_t off = 0; off < nr; off += WIRE_WANT_MAX) {
    uint32_t k = nr - off < WIRE_WANT_MAX ? nr - off : WIRE_WANT_MAX;
    if (!wire_encode_want(want + (size_t)off * HASH_LEN, k, msg, sizeof msg, &len)) net_send_msg(c, msg, len);
  }
  enqueue_records(c, give, nl);
  c->st.last_sync_ms = node_now_ms();
  c->st.last_sync_equal = n == 0;
  log_info("%s: sync %u: %s (%u symbols; sending %u, asking for %u)", c->addr, s->id,
           n ? "sets differ" : "sets equal", s->dec.m, nl, nr);
  s->done = true;
  free(want);
  free(give);
  session_release(s);
}

static void on_sync(conn *c, const wire_sync *w) {
  static uint8_t msg[64];
  size_t len;
  sync_session *s = c->in_sync;
  if (!s || s->id != w->session) {
    if (w->first != 0) return; /* the rest of a session we have closed */
    session_free(s);
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
    const iblt_sym *mine = s->dec.m < s->snap.cap ? NULL : ext_sym(c, s, s->dec.m);
    int e = iblt_decoder_add(&s->dec, &y, mine);
    if (e == STOA_ETOOBIG) {
      wire_done d = { s->id, 1, 0, 0 };
      if (!wire_encode_done(&d, msg, sizeof msg, &len)) net_send_msg(c, msg, len);
      log_warn("%s: sync %u: difference too large to decode", c->addr, s->id);
      s->done = true;
      session_release(s);
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
  c->st.last_sync_ms = node_now_ms();
  c->st.last_sync_equal = d->status == 0 && d->will_send == 0 && d->wants == 0;
  log_info("%s: sync %u done: %llu records coming, %llu asked for", c->addr, s->id,
           (unsigned long long)d->will_send, (unsigned long long)d->wants);
  if (d->status) log_warn("%s: sync %u: the peer could not decode the difference", c->addr, s->id);
  session_free(s);
  c->out_sync = NULL;
  malloc_trim(0);
  ctl_sync_done(c);
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

static void verify_done(uv_work_t *w, int status) {
  rxbatch *b = w->data;
  node *n = b->c->node;
  (void)status;
  b->verified = true;
  n->jobs--;
  size_t queued = 0;
  for (rxbatch *x = n->batches; x; x = x->next)
    if (x->verified) queued += x->n;
  /* A full batch commits now; a smaller one waits a few milliseconds for
   * more to arrive, so that a large sync costs few commits (each one an
   * fsync) while a single pushed record still lands at once. */
  if (queued >= NODE_BATCH || n->stopping) node_commit(n);
  else if (!uv_is_active((uv_handle_t *)&n->commit_timer)) uv_timer_start(&n->commit_timer, commit_soon, 20, 0);
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
    off += len;
    c->st.rx_records++;
    if (rec_decode(x->buf, x->len, &x->r)) continue; /* counted, never stored */
    hashset_add(&c->seen, x->r.hash);
    b->n++;
  }
  b->bytes = total;
  b->toks_cap = total + STORE_TOKS_MAX;
  b->toks = malloc(b->toks_cap); /* NULL: tokens computed at commit */
  c->rx_queued += total;
  if (c->rx_queued > NODE_RXQUEUE_MAX) c->read_paused = true;
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

/* Commits the verified batches at the head of the queue in one
 * transaction, then acknowledges them and pushes what was new. */
void node_commit(node *n) {
  static store_item *items;
  static size_t cap;
  size_t total = 0;
  rxbatch *b;
  for (b = n->batches; b && b->verified; b = b->next) total += b->n;
  if (!n->batches || !n->batches->verified) return;
  if (total > cap) {
    store_item *p = realloc(items, total * sizeof *p);
    if (!p) return;
    items = p;
    cap = total;
  }
  size_t k = 0;
  for (b = n->batches; b && b->verified; b = b->next) {
    memcpy(items + k, b->items, b->n * sizeof *items);
    k += b->n;
  }
  store_counts cnt = { 0 };
  int e = store_ingest(n->st, items, k, node_now_ms(), &cnt);
  if (e) log_error("commit of %zu records failed: %s", k, stoa_strerror(e));
  n->ingested += cnt.fresh;
  k = 0;
  while (n->batches && n->batches->verified) {
    b = n->batches;
    n->batches = b->next;
    conn *c = b->c;
    size_t fresh = 0, bad = 0;
    int why = 0;
    for (uint32_t i = 0; i < b->n; i++, k++)
      if (items[k].status == ST_NEW) fresh++;
      else if (items[k].status == ST_REJECTED) { bad++; why = items[k].err; }
    if (bad) /* an honest node never sends these: say so where operators look */
      log_warn("%s: rejected %zu invalid record(s) from this peer (%s)", c->addr, bad, stoa_strerror(why));
    c->st.rx_new += fresh;
    c->rx_queued -= b->bytes;
    if (!e && !c->closing && c->state == CS_READY) {
      uint8_t m[16];
      size_t len;
      if (!wire_encode_u64(W_ACK, b->n, m, sizeof m, &len)) net_send_msg(c, m, len);
    }
    if (c->rx_queued <= NODE_RXQUEUE_MAX / 2) net_resume(c);
    conn_unref(c);
    free(b->data);
    free(b->toks);
    free(b->items);
    free(b);
  }
  peer_push_new(n);
}

/* ---- push ----------------------------------------------------------------------------------------- */

typedef struct follow_ctx { node *n; uint64_t last; } follow_ctx;

static int follow_one(void *vctx, uint64_t seq, const uint8_t *buf, size_t len) {
  follow_ctx *f = vctx;
  rec r;
  f->last = seq;
  if (rec_decode(buf, len, &r)) return 0;
  iblt_sketch_add(&f->n->sketch, r.hash);
  f->n->records++;
  for (conn *c = f->n->conns; c; c = c->next)
    if (c->state == CS_READY && !c->closing && (c->peer_caps & WCAP_PUSH) && !hashset_has(&c->seen, r.hash))
      sendq_push(c, r.hash);
  return 0;
}

/* Follows the store's insertion sequence: every record accepted since the
 * last call - from peers, bundles or the CLI - joins the sketch and is
 * pushed to the peers that may lack it. */
void peer_push_new(node *n) {
  store_rd *rd;
  if (store_rd_begin(n->st, &rd)) return;
  follow_ctx f = { n, n->seq };
  store_scan(rd, n->seq + 1, follow_one, &f);
  store_rd_end(rd);
  n->seq = f.last;
  for (conn *c = n->conns; c; c = c->next)
    if (c->sendq_n) peer_pump(c);
}

/* ---- dispatch ---------------------------------------------------------------------------------------- */

void peer_on_msg(conn *c, const uint8_t *buf, size_t len) {
  static uint8_t out[32];
  wire_msg m;
  size_t ol;
  int e = wire_decode(buf, len, &m);
  if (e) { net_close(c, WERR_PROTOCOL, stoa_strerror(e)); return; }
  if (c->state == CS_HELLO) {
    if (m.type != W_HELLO) { net_close(c, WERR_PROTOCOL, "expected HELLO"); return; }
    on_hello(c, &m.u.hello);
    return;
  }
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
  case W_WANT: enqueue_records(c, m.u.want.hashes, m.u.want.n); break;
  case W_RECORDS: on_records(c, &m.u.records); break;
  case W_ACK:
    if (c->nin) {
      c->inflight -= c->inflight_msgs[0] <= c->inflight ? c->inflight_msgs[0] : c->inflight;
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

void peer_on_closed(conn *c) {
  session_free(c->out_sync);
  session_free(c->in_sync);
  c->out_sync = c->in_sync = NULL;
  if (c->ctl_waiting) ctl_sync_done(c);
}
