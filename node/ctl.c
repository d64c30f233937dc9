/*
 * ctl.c - the control socket (HOME/stoad.sock, mode 0600): how `stoa`
 * asks the daemon for its status and tells it about new records.
 */
#include <errno.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node/node.h"
#include "proto/ctl.h"
#include "proto/err.h"

typedef struct client {
  uv_pipe_t pipe;
  node *n;
  uint8_t *buf;
  size_t len, cap;
  int waiting;                          /* sync sessions still running */
  int sessions;                         /* sync sessions started */
  bool closing;
  msgpack_sbuffer resp;                 /* a sync reply being assembled */
} client;

static void client_closed(uv_handle_t *h) {
  client *cl = h->data;
  free(cl->buf);
  msgpack_sbuffer_destroy(&cl->resp);
  free(cl);
}

static void client_close(client *cl) {
  if (cl->closing) return;
  cl->closing = true;
  /* Connections still pointing at this client forget it. */
  for (conn *c = cl->n->conns; c; c = c->next)
    if (c->ctl_waiting == cl) c->ctl_waiting = NULL;
  uv_close((uv_handle_t *)&cl->pipe, client_closed);
}

typedef struct wr { uv_write_t req; client *cl; uint8_t data[]; } wr;

static void on_written(uv_write_t *req, int status) {
  wr *w = (wr *)req;
  (void)status;
  free(w);
}

static void reply(client *cl, const msgpack_sbuffer *sb) {
  if (cl->closing) return;
  wr *w = malloc(sizeof *w + 4 + sb->size);
  if (!w) return;
  ctl_frame_put(w->data, (uint32_t)sb->size);
  memcpy(w->data + 4, sb->data, sb->size);
  uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)(4 + sb->size));
  w->cl = cl;
  if (uv_write(&w->req, (uv_stream_t *)&cl->pipe, &b, 1, on_written)) free(w);
}

static void pk_str(msgpack_packer *pk, const char *s) { msgpack_pack_str_with_body(pk, s, strlen(s)); }
static void pk_kv_str(msgpack_packer *pk, const char *k, const char *v) { pk_str(pk, k); pk_str(pk, v); }
static void pk_kv_u64(msgpack_packer *pk, const char *k, uint64_t v) { pk_str(pk, k); msgpack_pack_uint64(pk, v); }

static void reply_error(client *cl, const char *msg) {
  msgpack_sbuffer sb;
  msgpack_packer pk;
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 2);
  pk_str(&pk, "ok");
  msgpack_pack_false(&pk);
  pk_kv_str(&pk, "error", msg);
  reply(cl, &sb);
  msgpack_sbuffer_destroy(&sb);
}

static const char *state_name(int s) {
  switch (s) {
  case CS_HANDSHAKE: return "handshake";
  case CS_HELLO: return "hello";
  case CS_READY: return "connected";
  default: return "closing";
  }
}

static void hex8(const uint8_t *k, char out[17]) {
  for (int i = 0; i < 8; i++) snprintf(out + 2 * i, 3, "%02x", k[i]);
}

static void pack_stats(msgpack_packer *pk, const conn_stats *st) {
  pk_kv_u64(pk, "rx_bytes", st->rx_bytes);
  pk_kv_u64(pk, "tx_bytes", st->tx_bytes);
  pk_kv_u64(pk, "rx_records", st->rx_records);
  pk_kv_u64(pk, "rx_new", st->rx_new);
  pk_kv_u64(pk, "tx_records", st->tx_records);
  pk_kv_u64(pk, "rx_dup", st->rx_dup);
  pk_kv_u64(pk, "rx_pending", st->rx_pending);
  pk_kv_u64(pk, "tx_announced", st->tx_announced);
  pk_kv_u64(pk, "rx_announced", st->rx_announced);
  pk_kv_u64(pk, "zip_raw", st->zip_raw);
  pk_kv_u64(pk, "zip_out", st->zip_out);
  pk_kv_u64(pk, "zip_plain", st->zip_plain);
  pk_kv_u64(pk, "last_sync_ms", st->last_sync_ms);
  pk_str(pk, "equal_at_last_sync");
  if (st->last_sync_equal < 0) msgpack_pack_nil(pk);
  else if (st->last_sync_equal) msgpack_pack_true(pk);
  else msgpack_pack_false(pk);
}

/* What is still to move on a connection, and when it should be done at
 * the rates of the last seconds (0 = unknown or nothing to move). */
static void pack_flow(msgpack_packer *pk, const conn *c) {
  uint64_t come = c ? want_left(c) : 0, go = c ? c->sendq_n - c->sendq_pos : 0, eta = 0;
  if (c && come && c->rx_rate && c->st->rx_records)
    eta = come * (c->st->rx_bytes / c->st->rx_records + 1) / c->rx_rate;
  if (c && go && c->ack_rate && c->st->tx_records) {
    uint64_t e2 = go * (c->st->tx_bytes / c->st->tx_records + 1) / c->ack_rate;
    if (e2 > eta) eta = e2;
  }
  pk_kv_u64(pk, "to_send", go);
  pk_kv_u64(pk, "to_come", come);
  pk_kv_u64(pk, "eta_s", eta);
}

/* A peer's map: five fields below, pack_flow's 3 and pack_stats's 14. */
enum { PEER_FIELDS = 5 + 3 + 14 };

/* One entry per configured peer, then one per inbound connection. */
static void pack_peers(node *n, msgpack_packer *pk) {
  unsigned count = 0;
  for (int i = 0; i < n->npeers; i++) count += n->peers[i].active;
  for (conn *c = n->conns; c; c = c->next) count += c->peer_index < 0;
  msgpack_pack_array(pk, count);
  for (int i = 0; i < n->npeers; i++) {
    peer_slot *p = &n->peers[i];
    if (!p->active) continue;
    conn *c = p->c;
    char h[17] = "";
    if (c && c->state == CS_READY) hex8(c->peer_node, h);
    msgpack_pack_map(pk, PEER_FIELDS);
    pk_kv_str(pk, "addr", p->addr);
    pk_kv_str(pk, "direction", "out");
    pk_kv_str(pk, "state", c ? state_name(c->state) : "disconnected");
    pk_kv_str(pk, "node", h);
    pk_kv_str(pk, "last_error", p->last_error);
    pack_flow(pk, c);
    pack_stats(pk, c ? c->st : &p->st);
  }
  for (conn *c = n->conns; c; c = c->next) {
    if (c->peer_index >= 0) continue;
    char h[17] = "";
    if (c->state == CS_READY) hex8(c->peer_node, h);
    msgpack_pack_map(pk, PEER_FIELDS);
    pk_kv_str(pk, "addr", c->addr);
    pk_kv_str(pk, "direction", "in");
    pk_kv_str(pk, "state", state_name(c->state));
    pk_kv_str(pk, "node", h);
    pk_kv_str(pk, "last_error", "");
    pack_flow(pk, c);
    pack_stats(pk, c->st);
  }
}

static void do_status(client *cl, bool peers_only) {
  node *n = cl->n;
  msgpack_sbuffer sb;
  msgpack_packer pk;
  char fid[65], nk[65];
  for (int i = 0; i < 32; i++) {
    snprintf(fid + 2 * i, 3, "%02x", n->fed[i]);
    snprintf(nk + 2 * i, 3, "%02x", n->node_pk[i]);
  }
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  if (peers_only) {
    msgpack_pack_map(&pk, 2);
    pk_str(&pk, "ok");
    msgpack_pack_true(&pk);
  } else {
    const charter *ch = store_charter(n->st);
    msgpack_pack_map(&pk, 9);
    pk_str(&pk, "ok");
    msgpack_pack_true(&pk);
    pk_kv_str(&pk, "node", nk);
    pk_kv_str(&pk, "federation", fid);
    pk_kv_str(&pk, "federation_name", ch ? ch->name : "");
    pk_kv_u64(&pk, "records", n->records);
    pk_kv_u64(&pk, "ingested", n->ingested);
    pk_kv_u64(&pk, "decoding_symbols", n->dec_symbols); /* [limits] max_sync_symbols */
    pk_kv_str(&pk, "listen", n->listening ? n->cfg.listen : "");
  }
  pk_str(&pk, "peers");
  pack_peers(n, &pk);
  reply(cl, &sb);
  msgpack_sbuffer_destroy(&sb);
}

/* {"ok": true, "book": [...], "total": n}: the address book, the most
 * useful addresses first, as many as fit a response. */
static void do_book(client *cl) {
  msgpack_sbuffer items, sb;
  msgpack_packer pk;
  uint32_t listed, total;
  msgpack_sbuffer_init(&items);
  peers_book_pack(cl->n, &items, CTL_MAX - 4096, &listed, &total);
  msgpack_sbuffer_init(&sb);
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 3);
  pk_str(&pk, "ok");
  msgpack_pack_true(&pk);
  pk_kv_u64(&pk, "total", total);
  pk_str(&pk, "book");
  msgpack_pack_array(&pk, listed);
  if (items.size) msgpack_sbuffer_write(&sb, items.data, items.size);
  reply(cl, &sb);
  msgpack_sbuffer_destroy(&sb);
  msgpack_sbuffer_destroy(&items);
}

static void serve(client *cl);

void ctl_sync_done(conn *c) {
  client *cl = c->ctl_waiting;
  c->ctl_waiting = NULL;
  if (!cl || cl->closing) return;
  msgpack_packer pk;
  msgpack_packer_init(&pk, &cl->resp, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 5);
  pk_kv_str(&pk, "addr", c->addr);
  pk_str(&pk, "equal");
  if (c->st->last_sync_equal < 0) msgpack_pack_nil(&pk);
  else if (c->st->last_sync_equal) msgpack_pack_true(&pk);
  else msgpack_pack_false(&pk);
  pk_kv_u64(&pk, "rx_new", c->st->rx_new);
  pk_kv_u64(&pk, "tx_records", c->st->tx_records);
  pk_kv_u64(&pk, "to_send", c->sendq_n - c->sendq_pos);
  if (--cl->waiting > 0) return;
  /* All sessions done: {"ok": true, "syncs": [...]} */
  msgpack_sbuffer out;
  msgpack_sbuffer_init(&out);
  msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
  msgpack_pack_map(&pk, 2);
  pk_str(&pk, "ok");
  msgpack_pack_true(&pk);
  pk_str(&pk, "syncs");
  msgpack_pack_array(&pk, (uint32_t)cl->sessions);
  msgpack_sbuffer_write(&out, cl->resp.data, cl->resp.size);
  reply(cl, &out);
  msgpack_sbuffer_destroy(&out);
  msgpack_sbuffer_clear(&cl->resp);
  serve(cl); /* requests that came while the sync ran */
}

static void do_sync(client *cl, const ctl_req *r) {
  node *n = cl->n;
  int started = 0;
  for (conn *c = n->conns; c; c = c->next) {
    if (c->state != CS_READY || c->closing) continue;
    if (r->arg && (strlen(c->addr) != r->arg_len || memcmp(c->addr, r->arg, r->arg_len))) continue;
    if (c->ctl_waiting || peer_sync_start(c)) continue;
    c->ctl_waiting = cl; /* see ctl_sync_done */
    started++;
  }
  if (!started) {
    reply_error(cl, r->arg ? "no such connected peer, or a sync with it is running" : "no connected peer");
    return;
  }
  cl->waiting = cl->sessions = started;
}

static void on_request(client *cl, const uint8_t *buf, size_t len) {
  ctl_req r;
  char addr[NODE_ADDR_MAX];
  if (ctl_req_decode(buf, len, &r)) { reply_error(cl, "malformed request"); return; }
  if (r.arg) snprintf(addr, sizeof addr, "%.*s", (int)r.arg_len, r.arg);
  switch (r.cmd) {
  case CTL_STATUS: do_status(cl, false); break;
  case CTL_PEERS: do_status(cl, true); break;
  case CTL_BOOK: do_book(cl); break;
  case CTL_NOTIFY: {
    peer_push_new(cl->n);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    pk_str(&pk, "ok");
    msgpack_pack_true(&pk);
    reply(cl, &sb);
    msgpack_sbuffer_destroy(&sb);
    break;
  }
  case CTL_PEER_ADD:
  case CTL_PEER_REMOVE: {
    if (!r.arg) { reply_error(cl, "give HOST:PORT"); break; }
    int e = r.cmd == CTL_PEER_ADD ? node_peer_add(cl->n, addr, true) : node_peer_remove(cl->n, addr);
    if (e) { reply_error(cl, e == STOA_EINVAL ? "not HOST:PORT" : e == STOA_ENOTFOUND ? "no such peer" : stoa_strerror(e)); break; }
    do_status(cl, true);
    break;
  }
  case CTL_SYNC: do_sync(cl, &r); break;
  default: reply_error(cl, "unknown command"); break;
  }
}

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
  client *cl = h->data;
  (void)sz;
  if (cl->cap - cl->len < 4096) {
    size_t nc = cl->cap ? cl->cap * 2 : 8192;
    if (nc > CTL_MAX + 8) nc = CTL_MAX + 8;
    uint8_t *p = nc > cl->cap ? realloc(cl->buf, nc) : NULL;
    if (p) { cl->buf = p; cl->cap = nc; }
  }
  b->base = (char *)cl->buf + cl->len;
  b->len = cl->cap - cl->len;
}

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);

/* Serves the whole requests in the buffer, one at a time: while a sync
 * runs for this client, reading stops and what came after the request
 * waits in the buffer (ctl_sync_done serves it). */
static void serve(client *cl) {
  while (!cl->closing && !cl->waiting && cl->len >= 4) {
    uint32_t fl;
    if (ctl_frame_len(cl->buf, &fl)) { client_close(cl); return; }
    if (cl->len < 4 + (size_t)fl) {
      if (cl->len == cl->cap) client_close(cl);
      return;
    }
    on_request(cl, cl->buf + 4, fl);
    cl->len -= 4 + (size_t)fl;
    memmove(cl->buf, cl->buf + 4 + fl, cl->len);
  }
  if (cl->closing) return;
  if (cl->waiting) uv_read_stop((uv_stream_t *)&cl->pipe);
  else uv_read_start((uv_stream_t *)&cl->pipe, on_alloc, on_read);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
  client *cl = s->data;
  (void)b;
  if (nread < 0) { client_close(cl); return; }
  cl->len += (size_t)nread;
  serve(cl);
}

static void on_client(uv_stream_t *server, int status) {
  node *n = server->data;
  if (status < 0) return;
  client *cl = calloc(1, sizeof *cl);
  if (!cl) return;
  cl->n = n;
  msgpack_sbuffer_init(&cl->resp);
  uv_pipe_init(n->loop, &cl->pipe, 0);
  cl->pipe.data = cl;
  if (uv_accept(server, (uv_stream_t *)&cl->pipe)) { client_close(cl); return; }
  uv_read_start((uv_stream_t *)&cl->pipe, on_alloc, on_read);
}

int ctl_listen(node *n) {
  char path[4200];
  int r;
  snprintf(path, sizeof path, "%.4000s/%s", n->home, CTL_SOCKET);
  unlink(path); /* a stale socket of a killed daemon */
  uv_pipe_init(n->loop, &n->ctl, 0);
  n->ctl.data = n;
  n->ctl_open = true;
  mode_t old = umask(0077); /* created 0600 */
  r = uv_pipe_bind(&n->ctl, path);
  umask(old);
  if (r) return r;
  chmod(path, 0600);
  return uv_listen((uv_stream_t *)&n->ctl, 16, on_client);
}
