/*
 * want.c - asking a peer for the records we lack (docs/protocol.md §3,
 * "Resuming").
 *
 * Every transfer of records after a sync is a pull: the side that lacks
 * records asks for them with WANT, after checking its own store.  So a
 * record the receiver has committed is never asked for again, whatever
 * acknowledgements a cut link lost.  The list of what one peer has and we
 * lack outlives the connection (it is keyed by the peer's Noise static
 * key); the next connection asks for what is still missing instead of
 * reconciling the whole difference again.
 *
 * Flow: about eight seconds' worth of hashes (512 to 16,384) are asked
 * for and unanswered at a time; each received record answers one.  The
 * peer offers its part of a difference best first (trust records, then
 * newest), so asking in the order offered keeps that order.  A sender
 * that lacks a hash asked for (erased since) answers nothing, so after
 * 120 s without records (longer than a stalled link, so that records in
 * flight are not taken for lost) the estimate is reset and asking goes on.
 *
 * The same per-peer entry holds what we found the peer lacks and have not
 * yet offered (peer.c offers it a part at a time).
 */
#include <stdlib.h>
#include <string.h>

#include "node/node.h"
#include "proto/err.h"

#define WANT_QUIET_MS 120000         /* longer than a link that stalls for a minute */

static peer_want *want__find(node *n, const uint8_t key[32], bool create) {
  for (peer_want *w = n->wants; w; w = w->next)
    if (!memcmp(w->key, key, 32)) return w;
  if (!create) return NULL;
  peer_want *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  memcpy(w->key, key, 32);
  w->next = n->wants;
  n->wants = w;
  return w;
}

/* Hashes the peer said it would offer (its DONE) and has not offered
 * yet: while there are, a sync would only find them again. */
static uint64_t want__told(const peer_want *w) {
  return w->come > w->got ? w->come - w->got : 0;
}

static void want__reset(peer_want *w) {
  free(w->h);
  hashset_free(&w->in);
  w->h = NULL;
  w->n = w->cap = w->pos = 0;
}

/* Drops what we now hold (from any peer, a bundle or the CLI). */
static void want__filter(node *n, peer_want *w) {
  store_rd *rd;
  if (!w->n || store_rd_begin(n->st, &rd)) return;
  size_t k = 0;
  for (size_t i = 0; i < w->n; i++)
    if (!store_known(rd, w->h + i * HASH_LEN)) memmove(w->h + k++ * HASH_LEN, w->h + i * HASH_LEN, HASH_LEN);
  store_rd_end(rd);
  if (k == w->n) return;
  w->n = k;
  hashset_free(&w->in);
  for (size_t i = 0; i < k; i++) hashset_add(&w->in, w->h + i * HASH_LEN);
  if (!k) want__reset(w);
}

void want_attach(conn *c) {
  node *n = c->node;
  peer_want *w = want__find(n, noise_hs_remote_static(&c->hs), true);
  if (!w || w->active) return; /* a second connection to the same node asks nothing */
  w->active = true;
  c->pw = w;
  want__filter(n, w);
  w->pos = 0; /* what the last connection asked for may not have come */
  if (w->off) w->off_chunk = 64;
  c->off_start = w->off_pos;
  c->offered_asked = 0;
  c->want_out = 0;
  c->last_records_ms = node_now_ms();
}

void want_detach(conn *c) {
  if (!c->pw) return;
  c->pw->active = false;
  /* Offers the peer did not ask for may have been lost in the cut: the
   * next connection offers again from the first hash not asked for (the
   * peer asks in the order offered and skips what it holds).  The list is
   * dropped when a new sync replaces it. */
  if (c->pw->off) { /* offered on this connection and asked for: it got those */
    size_t sure = c->off_start + (size_t)c->offered_asked;
    if (sure < c->pw->off_pos) c->pw->off_pos = sure;
  }
  if (!c->pw->n && !c->pw->off && !want__told(c->pw)) { /* forget empty ones; keep the others */
    node *n = c->node;
    for (peer_want **pp = &n->wants; *pp; pp = &(*pp)->next)
      if (*pp == c->pw) { *pp = c->pw->next; break; }
    want__reset(c->pw);
    free(c->pw);
  }
  c->pw = NULL;
}

void want_clear(conn *c) {
  if (c->pw) want__reset(c->pw);
  c->want_out = 0;
}

void want_offered(conn *c, const uint8_t *hashes, size_t n) {
  if (c->pw) {
    c->pw->got += n;
    c->pw->got_ms = node_now_ms();
  }
  want_add(c, hashes, n);
}

/* A relayed record is announced by every peer that has it, and maybe sent
 * whole by its origin: asked for from the first peer that announces it,
 * unless another connection brought it and it waits for its commit (it is
 * in that one's seen set), or that one is asked for it already.  Only
 * connections with records queued or asked for can hold such a hash, so
 * only those are looked at (the first 64 of them: past that a record may
 * come twice).  Should the other one not deliver, the next sync finds the
 * record. */
void want_announced(conn *c, const uint8_t *hashes, size_t n) {
  static uint8_t keep[WIRE_WANT_MAX * HASH_LEN];
  const conn *busy[64];
  size_t nb = 0, k = 0;
  /* As on the sender's side, announcing is best effort: past
   * NODE_ANNOUNCE_MAX hashes not yet asked for, the next sync finds what
   * we lack.  (A peer announcing what nobody holds fills no more.) */
  size_t unasked = c->pw ? c->pw->n - c->pw->pos : 0;
  if (unasked >= NODE_ANNOUNCE_MAX) return;
  if (n > NODE_ANNOUNCE_MAX - unasked) n = NODE_ANNOUNCE_MAX - unasked;
  for (const conn *x = c->node->conns; x && nb < 64; x = x->next)
    if (x != c && (x->rx_queued || want_busy(x))) busy[nb++] = x;
  if (n > WIRE_WANT_MAX) n = WIRE_WANT_MAX;
  for (size_t i = 0; i < n; i++) {
    const uint8_t *h = hashes + i * HASH_LEN;
    bool elsewhere = false;
    for (size_t j = 0; j < nb && !elsewhere; j++)
      elsewhere = hashrecent_has(&busy[j]->seen, h) || (busy[j]->pw && hashset_has(&busy[j]->pw->in, h));
    if (!elsewhere) memcpy(keep + k++ * HASH_LEN, h, HASH_LEN);
  }
  want_add(c, keep, k);
}

void want_add(conn *c, const uint8_t *hashes, size_t n) {
  peer_want *w = c->pw;
  store_rd *rd;
  if (!w || !n || store_rd_begin(c->node->st, &rd)) return;
  for (size_t i = 0; i < n; i++) {
    const uint8_t *h = hashes + i * HASH_LEN;
    if (w->n >= NODE_WANT_LIST_MAX) break; /* the next sync finds the rest */
    if (hashset_has(&w->in, h) || hashrecent_has(&c->seen, h) || store_known(rd, h)) continue;
    if (hashes_push(&w->h, &w->n, &w->cap, h)) break;
    hashset_add(&w->in, h);
  }
  store_rd_end(rd);
  want_pump(c);
}

/* Hashes to keep asked for: about eight seconds of what arrives, so that
 * on a slow link the WANTs do not crowd out the acknowledgements going the
 * same way, and at least 512 (a fast start). */
static uint32_t want__window(const conn *c) {
  uint64_t avg = c->st->rx_records ? c->st->rx_bytes / c->st->rx_records : 1024;
  uint64_t w = avg ? c->rx_rate * 8 / avg : 0;
  return w < 512 ? 512 : w > NODE_WANT_WINDOW ? NODE_WANT_WINDOW : (uint32_t)w;
}

void want_pump(conn *c) {
  static uint8_t msg[WIRE_MSG_MAX];
  peer_want *w = c->pw;
  if (!w || c->state != CS_READY || c->closing) return;
  /* Small first: the sender can start on the first records after 2 KB
   * rather than 64 KB (eight seconds at 64 kbit/s). */
  if (!c->want_chunk) c->want_chunk = 64;
  uint32_t win = want__window(c);
  while (w->pos < w->n && c->want_out < win) {
    uint32_t k = (uint32_t)(w->n - w->pos);
    if (k > c->want_chunk) k = c->want_chunk;
    c->want_chunk = c->want_chunk * 2 > WIRE_WANT_MAX ? WIRE_WANT_MAX : c->want_chunk * 2;
    if (k > win - c->want_out) k = win - c->want_out;
    size_t len;
    if (wire_encode_want(w->h + w->pos * HASH_LEN, k, msg, sizeof msg, &len)) break;
    net_send_msg(c, msg, len);
    w->pos += k;
    c->want_out += k;
  }
  /* Everything asked for has come, and all the peer said it would offer:
   * what is left we hold, or the peer no longer has.  A sync that waited
   * for this can run now. */
  if (!want_busy(c)) {
    want__filter(c->node, w);
    w->pos = w->n;
    if (c->sync_deferred) {
      c->sync_deferred = false;
      peer_sync_start(c);
    }
  }
}

void want_on_records(conn *c, uint32_t n) {
  c->want_out = n >= c->want_out ? 0 : c->want_out - n;
  if (c->pw) c->pw->got_ms = node_now_ms();
  c->last_records_ms = node_now_ms();
  if (c->pw && c->pw->pos < c->pw->n) want_pump(c);
  else if (c->want_out == 0) want_pump(c);
}

void want_tick(conn *c, uint64_t now) {
  /* A promise not kept for two minutes, across reconnections (the offers
   * may have been lost with a peer's restart): a sync will tell. */
  if (c->pw && want__told(c->pw) && now - c->pw->got_ms > WANT_QUIET_MS) {
    c->pw->come = 0;
    want_pump(c);
  }
  if (c->want_out && now - c->last_records_ms > WANT_QUIET_MS) {
    c->want_out = 0;
    c->last_records_ms = now;
    want_pump(c);
  }
}

size_t want_left(const conn *c) {
  const peer_want *w = c->pw;
  if (!w) return 0;
  uint64_t asked = (w->n - w->pos) + c->want_out, told = want__told(w);
  return (size_t)(asked > told ? asked : told);
}

bool want_busy(const conn *c) {
  return c->pw && (c->pw->pos < c->pw->n || c->want_out || want__told(c->pw));
}

void want_free_all(node *n) {
  while (n->wants) {
    peer_want *w = n->wants;
    n->wants = w->next;
    want__reset(w);
    free(w->off);
    free(w);
  }
}
