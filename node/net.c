/*
 * net.c - TCP, frames and the Noise handshake.
 *
 * A frame is a 2-byte big-endian length and that many bytes: a Noise
 * handshake message, then Noise transport messages each holding one
 * protocol message (docs/protocol.md §1-2).  Reading stops while a peer's
 * received records wait for verification (back-pressure), while it sends
 * faster than [limits] peer_rx_rate, and while it does not read what we
 * send it.
 *
 * Limits on who may connect (docs/config.md [limits]): connections in
 * total, per address, and handshakes in progress.  A connection that has
 * not finished its handshake costs us a file descriptor and ~70 KiB
 * without proving anything, so when the room is full the oldest such
 * connection makes way for the newcomer: half-open connections cannot
 * lock honest peers out, only make them race.  The handshake timeout
 * closes the rest.
 */
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <sodium.h>

#include "node/node.h"
#include "proto/err.h"

/* Queued outgoing bytes above which we stop reading from a peer until it
 * has read some: a peer that sends requests (PING, WANT) and never reads
 * the answers would otherwise make us queue them without end.  An honest
 * peer's queue stays near peer.c's OUT_HIGH (1 MiB) plus one message,
 * except the WANT lists of a large difference, which wait for it to read. */
#define NET_OUT_PAUSE (4u << 20)

/* Counts of refusals since the last tick: logged once a second, so that
 * a flood of connections does not become a flood of log lines. */
static struct {
  unsigned per_ip, full, evicted, memory;
} refused;
static bool mem_over;                   /* RssAnon above [limits] max_memory */

#define WRITE_BATCH 32                  /* frames handed to one uv_write */

typedef struct wreq {
  uv_write_t req;
  conn *c;
  unsigned nob;
  size_t bytes;
  outbuf *ob[WRITE_BATCH];
} wreq;

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

static void fmt_addr(const struct sockaddr *sa, char *out, size_t cap) {
  char ip[64] = "?";
  int port = 0;
  if (sa->sa_family == AF_INET) {
    uv_ip4_name((const struct sockaddr_in *)sa, ip, sizeof ip);
    port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
    snprintf(out, cap, "%s:%d", ip, port);
  } else if (sa->sa_family == AF_INET6) {
    uv_ip6_name((const struct sockaddr_in6 *)sa, ip, sizeof ip);
    port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    snprintf(out, cap, "[%s]:%d", ip, port);
  } else {
    snprintf(out, cap, "?");
  }
}

static conn *conn_new(node *n, bool initiator, int peer_index) {
  conn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->node = n;
  c->initiator = initiator;
  c->peer_index = peer_index;
  c->state = CS_HANDSHAKE;
  c->refs = 1;
  c->opened_ms = c->last_rx_ms = c->last_tx_ms = node_now_ms();
  c->st = &c->own_st;
  c->st->last_sync_equal = -1;
  c->window = NODE_INFLIGHT_MIN;
  c->seen.limit = NODE_SEEN_RECENT;
  c->offered_set.limit = NODE_OFFERED_RECENT;
  rate_init(&c->up, n->cfg.peer_upload_rate);
  uv_tcp_init(n->loop, &c->tcp);
  c->tcp.data = c;
  c->next = n->conns;
  n->conns = c;
  n->nconns++;
  return c;
}

/* Reads when nothing holds reading back: peer.c's back-pressure
 * (read_paused), the rate limit, or a peer that does not read us. */
static void reading_update(conn *c) {
  if (c->closing || uv_is_closing((uv_handle_t *)&c->tcp)) return;
  if (!c->read_paused && !c->rate_paused && !c->out_paused) {
    int r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (r < 0 && r != UV_EALREADY) net_close(c, 0, uv_strerror(r));
  } else {
    uv_read_stop((uv_stream_t *)&c->tcp);
  }
}

void conn_unref(conn *c) {
  if (--c->refs > 0) return;
  noise_hs_wipe(&c->hs);
  noise_cs_wipe(&c->tx);
  noise_cs_wipe(&c->rx);
  for (outbuf *o = c->out_head, *nx; o; o = nx) {
    nx = o->next;
    free(o);
  }
  hashrecent_free(&c->seen);
  free(c->rbuf);
  free(c->sendq);
  free(c->ann);
  free(c->inflight_msgs);
  free(c);
}

static void on_closed(uv_handle_t *h) {
  conn *c = h->data;
  node *n = c->node;
  for (conn **pp = &n->conns; *pp; pp = &(*pp)->next)
    if (*pp == c) {
      *pp = c->next;
      n->nconns--;
      break;
    }
  peer_on_closed(c);
  if (c->peer_index >= 0 && c->peer_index < n->npeers && n->peers[c->peer_index].c == c) {
    peer_slot *p = &n->peers[c->peer_index];
    p->c = NULL;
    net_peer_failed(n, c->peer_index, p->last_error[0] ? p->last_error : "connection closed");
  }
  conn_unref(c);
}

static void close_now(conn *c) {
  if (uv_is_closing((uv_handle_t *)&c->tcp)) return;
  c->state = CS_CLOSING;
  uv_close((uv_handle_t *)&c->tcp, on_closed);
}

void net_close(conn *c, int code, const char *why) {
  if (c->closing) return;
  c->closing = true;
  node *n = c->node;
  if (why) {
    if (code == 0) log_info("%s: closing: %s", c->addr, why);
    else log_warn("%s: closing: %s", c->addr, why);
    if (c->peer_index >= 0 && c->peer_index < n->npeers)
      snprintf(n->peers[c->peer_index].last_error, sizeof n->peers[0].last_error, "%s", why);
  }
  if (code && c->state >= CS_HELLO) {
    uint8_t m[WIRE_REASON_MAX + 32];
    size_t len;
    if (!wire_encode_error((uint32_t)code, why ? why : "", m, sizeof m, &len)) net_send_msg(c, m, len);
  }
  if (!c->writing) close_now(c);
  /* else: closed when the last write completes */
}

/* ---- writing ---------------------------------------------------------------- */

static void start_write(conn *c);

static void on_write(uv_write_t *req, int status) {
  wreq *w = (wreq *)req;
  conn *c = w->c;
  c->out_bytes -= w->bytes;
  for (unsigned i = 0; i < w->nob; i++) free(w->ob[i]);
  free(w);
  c->writing = false;
  /* While we do not read it, its reading is its only sign of life: a dead
   * peer's writes stop completing, and NODE_DEAD_MS closes it. */
  if (c->out_paused && status >= 0) c->last_rx_ms = node_now_ms();
  if (c->out_paused && c->out_bytes <= NET_OUT_PAUSE / 2) {
    c->out_paused = false;
    reading_update(c);
  }
  if (status < 0) {
    if (!c->closing) net_close(c, 0, uv_strerror(status));
    else close_now(c);
    conn_unref(c);
    return;
  }
  if (c->out_head) start_write(c);
  else if (c->closing) close_now(c);
  else peer_pump(c);
  conn_unref(c);
}

static void on_rate(uv_timer_t *t) {
  node *n = t->data;
  for (conn *c = n->conns; c; c = c->next)
    if (c->rate_blocked) {
      c->rate_blocked = false;
      start_write(c);
    }
}

/* The upload caps ([limits]): whether the next frame must wait.  If so,
 * the node's rate timer tries again when the tokens are there. */
static bool rate_hold(conn *c) {
  node *n = c->node;
  uint64_t now = uv_now(n->loop);
  uint64_t w = rate_wait(&n->up, now), wc = rate_wait(&c->up, now);
  if (wc > w) w = wc;
  if (!w) return false;
  c->rate_blocked = true;
  if (!uv_is_active((uv_handle_t *)&n->rate_timer) || uv_timer_get_due_in(&n->rate_timer) > w)
    uv_timer_start(&n->rate_timer, on_rate, w, 0);
  return true;
}

void net_rates_init(node *n) {
  if (!uv_is_active((uv_handle_t *)&n->rate_timer) && !n->rate_timer.data) {
    uv_timer_init(n->loop, &n->rate_timer);
    n->rate_timer.data = n;
  }
  rate_init(&n->up, n->cfg.upload_rate);
  for (conn *c = n->conns; c; c = c->next) rate_init(&c->up, n->cfg.peer_upload_rate);
  on_rate(&n->rate_timer);
}

static void start_write(conn *c) {
  if (c->writing || !c->out_head || uv_is_closing((uv_handle_t *)&c->tcp)) return;
  if (rate_hold(c)) return;
  wreq *w = malloc(sizeof *w);
  if (!w) { close_now(c); return; }
  w->c = c;
  w->nob = 0;
  w->bytes = 0;
  /* Many frames in one system call; under an upload cap one at a time,
   * so that the cap's accounting stays per frame. */
  unsigned max = c->node->up.rate || c->up.rate ? 1 : WRITE_BATCH;
  uv_buf_t b[WRITE_BATCH];
  while (c->out_head && w->nob < max) {
    outbuf *ob = c->out_head;
    c->out_head = ob->next;
    b[w->nob] = uv_buf_init((char *)ob->data, (unsigned)ob->len);
    w->ob[w->nob++] = ob;
    w->bytes += ob->len;
  }
  if (!c->out_head) c->out_tail = NULL;
  c->refs++;
  c->writing = true;
  rate_take(&c->node->up, w->bytes);
  rate_take(&c->up, w->bytes);
  int r = uv_write(&w->req, (uv_stream_t *)&c->tcp, b, w->nob, on_write);
  if (r < 0) {
    c->writing = false;
    c->refs--;
    c->out_bytes -= w->bytes;
    for (unsigned i = 0; i < w->nob; i++) free(w->ob[i]);
    free(w);
    close_now(c);
  }
}

static void queue_frame(conn *c, const uint8_t *data, size_t len) {
  outbuf *ob = malloc(sizeof *ob + 2 + len);
  if (!ob) { close_now(c); return; }
  ob->next = NULL;
  ob->len = 2 + len;
  ob->data[0] = (uint8_t)(len >> 8);
  ob->data[1] = (uint8_t)len;
  memcpy(ob->data + 2, data, len);
  if (c->out_tail) c->out_tail->next = ob;
  else c->out_head = ob;
  c->out_tail = ob;
  c->out_bytes += ob->len;
  c->st->tx_bytes += ob->len;
  c->last_tx_ms = node_now_ms();
  if (c->out_bytes > NET_OUT_PAUSE && !c->out_paused) {
    log_debug("%s: %zu bytes queued for it: reading paused until it reads", c->addr, c->out_bytes);
    c->out_paused = true;
    reading_update(c);
  }
  start_write(c);
}

void net_send_msg(conn *c, const uint8_t *msg, size_t len) {
  uint8_t ct[WIRE_FRAME_MAX];
  size_t clen;
  if (c->state < CS_HELLO || uv_is_closing((uv_handle_t *)&c->tcp)) return;
  if (noise_cs_encrypt(&c->tx, NULL, 0, msg, len, ct, sizeof ct, &clen)) {
    close_now(c);
    return;
  }
  queue_frame(c, ct, clen);
}

/* ---- the handshake ------------------------------------------------------------ */

static int hs_init(conn *c) {
  uint8_t prologue[7 + HASH_LEN];
  memcpy(prologue, WIRE_PROLOGUE, 7); /* "stoa/1" and its NUL */
  memcpy(prologue + 7, c->node->fed, HASH_LEN);
  return noise_hs_init(&c->hs, NOISE_XX, c->initiator, prologue, sizeof prologue, c->node->noise_priv, NULL);
}

static void hs_write(conn *c) {
  uint8_t m[256];
  size_t len;
  if (noise_hs_write(&c->hs, NULL, 0, m, sizeof m, &len)) {
    net_close(c, 0, "handshake failed");
    return;
  }
  queue_frame(c, m, len);
}

static void hs_maybe_done(conn *c) {
  if (!noise_hs_done(&c->hs)) return;
  if (noise_hs_split(&c->hs, &c->tx, &c->rx)) {
    net_close(c, 0, "handshake split failed");
    return;
  }
  c->state = CS_HELLO;
  peer_start(c);
}

static void hs_frame(conn *c, const uint8_t *f, size_t len) {
  uint8_t payload[256];
  size_t plen;
  if (noise_hs_read(&c->hs, f, len, payload, sizeof payload, &plen)) {
    net_close(c, 0, "handshake failed (another federation, or not a Stoa node)");
    return;
  }
  if (noise_hs_done(&c->hs)) { hs_maybe_done(c); return; }
  if (noise_hs_my_turn(&c->hs)) {
    hs_write(c);
    hs_maybe_done(c);
  }
}

/* ---- reading ------------------------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  conn *c = h->data;
  (void)suggested;
  size_t want = 64 * 1024;
  if (c->rcap - c->rlen < want) {
    size_t nc = c->rlen + want;
    uint8_t *p = realloc(c->rbuf, nc);
    if (!p) { buf->base = NULL; buf->len = 0; return; }
    c->rbuf = p;
    c->rcap = nc;
  }
  buf->base = (char *)c->rbuf + c->rlen;
  buf->len = c->rcap - c->rlen;
}

static void frames(conn *c) {
  size_t off = 0;
  while (!c->closing && c->rlen - off >= 2) {
    size_t len = (size_t)c->rbuf[off] << 8 | c->rbuf[off + 1];
    if (len == 0) { net_close(c, WERR_PROTOCOL, "empty frame"); return; }
    if (c->rlen - off - 2 < len) break;
    const uint8_t *f = c->rbuf + off + 2;
    off += 2 + len;
    c->last_rx_ms = node_now_ms();
    c->st->rx_bytes += 2 + len;
    if (c->state == CS_HANDSHAKE) {
      hs_frame(c, f, len);
      continue;
    }
    uint8_t pt[WIRE_FRAME_MAX];
    size_t plen;
    if (noise_cs_decrypt(&c->rx, NULL, 0, f, len, pt, sizeof pt, &plen)) {
      net_close(c, 0, "a frame failed to decrypt");
      return;
    }
    peer_on_msg(c, pt, plen);
    if (c->read_paused) break; /* back-pressure: the rest waits in rbuf */
  }
  memmove(c->rbuf, c->rbuf + off, c->rlen - off);
  c->rlen -= off;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  conn *c = s->data;
  (void)buf;
  if (nread < 0) {
    net_close(c, 0, nread != UV_EOF ? uv_strerror((int)nread)
                    : c->state == CS_HANDSHAKE ? "peer closed during the handshake (another federation?)"
                    : "peer closed the connection");
    return;
  }
  c->rlen += (size_t)nread;
  if (c->node->cfg.peer_rx_rate) { /* refilled by net_tick */
    c->rx_tokens -= nread;
    if (c->rx_tokens < 0) c->rate_paused = true;
  }
  frames(c);
  reading_update(c);
}

void net_resume(conn *c) {
  if (!c->read_paused || c->closing) return;
  c->read_paused = false;
  frames(c); /* what arrived before the pause */
  reading_update(c);
}

static void conn_begin(conn *c) {
  uv_tcp_nodelay(&c->tcp, 1);
  uv_tcp_keepalive(&c->tcp, 1, 60);
  if (hs_init(c)) { net_close(c, 0, "cannot start the handshake"); return; }
  c->rx_tokens = (int64_t)c->node->cfg.peer_rx_rate;
  c->rx_tokens_ms = node_now_ms();
  reading_update(c);
  if (c->initiator) hs_write(c);
}

/* ---- listening ------------------------------------------------------------------- */

/* The address part of "ip:port" or "[v6]:port" (fmt_addr's forms). */
static size_t addr_host_len(const char *a) {
  const char *colon = strrchr(a, ':');
  return colon ? (size_t)(colon - a) : strlen(a);
}

static bool in_handshake(const conn *c) { return c->state == CS_HANDSHAKE || c->state == CS_HELLO; }

static bool same_host(const conn *a, const conn *b) {
  size_t hl = addr_host_len(a->addr);
  return addr_host_len(b->addr) == hl && !memcmp(a->addr, b->addr, hl);
}

/* The inbound handshake to drop for a newcomer: one from the address with
 * the most handshakes in progress (an attacker's, unless it has as many
 * addresses as connections), the oldest among those.  O(handshakes^2),
 * handshakes <= max_handshakes. */
static conn *evict_pick(node *n, const conn *c) {
  conn *best = NULL;
  unsigned best_k = 0;
  for (conn *x = n->conns; x; x = x->next) {
    if (x == c || x->closing || x->initiator || !in_handshake(x)) continue;
    unsigned k = 0;
    for (conn *y = n->conns; y; y = y->next)
      if (!y->closing && !y->initiator && in_handshake(y) && same_host(x, y)) k++;
    if (!best || k > best_k || (k == best_k && x->opened_ms < best->opened_ms)) {
      best = x;
      best_k = k;
    }
  }
  return best;
}

/* Applies [limits] to a new inbound connection c (already in the list).
 * Returns the reason to refuse it, or NULL; may close an inbound handshake
 * to make room.  O(connections), at most a few thousand. */
static const char *admit(node *n, conn *c) {
  const node_config *cfg = &n->cfg;
  unsigned live = 0, same_ip = 0, hs = 0;
  for (conn *x = n->conns; x; x = x->next) {
    if (x == c || x->closing) continue;
    live++;
    if (x->initiator) continue; /* our own dials: configured peers */
    if (same_host(x, c)) same_ip++;
    if (in_handshake(x)) hs++;
  }
  if (mem_over) { refused.memory++; return "over [limits] max_memory"; }
  if (same_ip >= cfg->max_conns_per_ip) { refused.per_ip++; return "too many connections from this address"; }
  if (live < cfg->max_conns && hs < cfg->max_handshakes) return NULL;
  conn *victim = hs ? evict_pick(n, c) : NULL;
  if (!victim) { refused.full++; return "too many connections"; }
  refused.evicted++;
  net_close(victim, 0, NULL); /* counted, logged at the next tick */
  return NULL;
}

static void on_connection(uv_stream_t *server, int status) {
  node *n = server->data;
  if (status < 0) { log_warn("accept: %s", uv_strerror(status)); return; }
  conn *c = conn_new(n, false, -1);
  if (!c) return;
  if (uv_accept(server, (uv_stream_t *)&c->tcp)) { close_now(c); return; }
  struct sockaddr_storage ss;
  int sl = sizeof ss;
  if (!uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl)) fmt_addr((struct sockaddr *)&ss, c->addr, sizeof c->addr);
  const char *why = n->stopping ? "stopping" : admit(n, c);
  if (why) {
    log_debug("%s: refused: %s", c->addr, why);
    c->closing = true;
    close_now(c);
    return;
  }
  log_debug("%s: inbound connection", c->addr);
  conn_begin(c);
}

/* Room for max_connections descriptors besides the store's, the control
 * socket's and libuv's own: raises the soft RLIMIT_NOFILE towards the hard
 * one when it is lower (it often is 1024). */
static void fd_limit_raise(node *n) {
  struct rlimit rl;
  rlim_t want = (rlim_t)n->cfg.max_conns + 64;
  if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= want) return;
  rlim_t old = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl)) return;
  log_info("open files limit raised from %llu to %llu for %u connections", (unsigned long long)old,
           (unsigned long long)rl.rlim_cur, n->cfg.max_conns);
  if (rl.rlim_cur < want)
    log_warn("open files limit %llu is below max_connections + 64: raise it (ulimit -n)",
             (unsigned long long)rl.rlim_cur);
}

int net_listen(node *n, const char *addr) {
  char host[256];
  int port, r;
  struct sockaddr_storage ss;
  if (config_split_addr(addr, host, sizeof host, &port)) return UV_EINVAL;
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) && uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss))
    return UV_EINVAL;
  fd_limit_raise(n);
  uv_tcp_init(n->loop, &n->listener);
  n->listener.data = n;
  n->listening = true;
  if ((r = uv_tcp_bind(&n->listener, (struct sockaddr *)&ss, 0)) ||
      (r = uv_listen((uv_stream_t *)&n->listener, 128, on_connection)))
    return r;
  return 0;
}

/* ---- dialing -------------------------------------------------------------------------- */

typedef struct dial_req {
  uv_getaddrinfo_t gai;
  uv_connect_t conn_req;
  node *n;
  int peer_index;
  conn *c;
} dial_req;

static void on_connect(uv_connect_t *req, int status) {
  dial_req *d = req->data;
  conn *c = d->c;
  free(d);
  if (status < 0) {
    snprintf(c->node->peers[c->peer_index].last_error, sizeof c->node->peers[0].last_error, "%s",
             uv_strerror(status));
    c->closing = true;
    close_now(c);
    return;
  }
  log_debug("%s: connected", c->addr);
  conn_begin(c);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  dial_req *d = req->data;
  node *n = d->n;
  if (status < 0 || !res || n->stopping || d->peer_index >= n->npeers || !n->peers[d->peer_index].active) {
    if (status < 0 && d->peer_index < n->npeers) net_peer_failed(n, d->peer_index, uv_strerror(status));
    uv_freeaddrinfo(res);
    free(d);
    return;
  }
  conn *c = conn_new(n, true, d->peer_index);
  if (!c) { uv_freeaddrinfo(res); free(d); return; }
  snprintf(c->addr, sizeof c->addr, "%s", n->peers[d->peer_index].addr);
  n->peers[d->peer_index].c = c;
  c->st = &n->peers[d->peer_index].st; /* a peer's counts run across its connections */
  d->c = c;
  d->conn_req.data = d;
  int r = uv_tcp_connect(&d->conn_req, &c->tcp, res->ai_addr, on_connect);
  uv_freeaddrinfo(res);
  if (r < 0) {
    snprintf(n->peers[d->peer_index].last_error, sizeof n->peers[0].last_error, "%s", uv_strerror(r));
    free(d);
    c->closing = true;
    close_now(c);
  }
}

void net_dial(node *n, int i) {
  peer_slot *p = &n->peers[i];
  char host[256], port[8];
  int pn;
  if (p->c || n->stopping || !p->active) return;
  if (config_split_addr(p->addr, host, sizeof host, &pn)) return;
  snprintf(port, sizeof port, "%d", pn);
  dial_req *d = calloc(1, sizeof *d);
  if (!d) return;
  d->n = n;
  d->peer_index = i;
  d->gai.data = d;
  struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
  log_debug("%s: dialing", p->addr);
  if (uv_getaddrinfo(n->loop, &d->gai, on_resolved, host, port, &hints) < 0) {
    free(d);
    net_peer_failed(n, i, "cannot resolve");
  }
}

static void on_retry(uv_timer_t *t) {
  node *n = t->data;
  peer_slot *p = (peer_slot *)(void *)((char *)t - offsetof(peer_slot, retry));
  net_dial(n, (int)(p - n->peers));
}

/* Exponential backoff from 1 s to 5 min, with +-25% jitter. */
void net_peer_failed(node *n, int i, const char *why) {
  peer_slot *p = &n->peers[i];
  if (n->stopping || !p->active) return;
  if (p->from_book) { peers_slot_failed(n, i, why); return; } /* not retried: the book picks again */
  p->last_error_ms = node_now_ms();
  if (why && why != p->last_error) snprintf(p->last_error, sizeof p->last_error, "%s", why);
  p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : 1000;
  if (p->backoff_ms > 300000) p->backoff_ms = 300000;
  unsigned jitter = randombytes_uniform(p->backoff_ms / 2 + 1);
  unsigned delay = p->backoff_ms - p->backoff_ms / 4 + jitter;
  log_debug("%s: retry in %u ms (%s)", p->addr, delay, p->last_error);
  if (!p->retry_init) {
    uv_timer_init(n->loop, &p->retry);
    p->retry_init = true;
  }
  p->retry.data = n;
  uv_timer_start(&p->retry, on_retry, delay, 0);
}

/* ---- timers ------------------------------------------------------------------------------ */

/* RssAnon of this process in bytes, from /proc (0 when unknown).  The
 * store's mapped pages are not in it: they are the kernel's cache. */
static uint64_t rss_anon(void) {
  char line[128];
  unsigned long long kb = 0;
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "RssAnon: %llu kB", &kb) == 1) break;
  fclose(f);
  return (uint64_t)kb << 10;
}

/* Once a second: memory against [limits] max_memory (above it, inbound
 * connections are refused and free memory is given back; below 90% they
 * are taken again), and the refusals of the last second in one line. */
static void limits_tick(node *n) {
  uint64_t max = n->cfg.max_memory, rss = max ? rss_anon() : 0;
  if (max && !mem_over && rss > max) {
    mem_over = true;
    malloc_trim(0);
    log_warn("memory %llu MiB is over max_memory (%llu MiB): refusing new connections",
             (unsigned long long)(rss >> 20), (unsigned long long)(max >> 20));
  } else if (mem_over && (!max || rss < max / 10 * 9)) {
    mem_over = false;
    log_info("memory %llu MiB: taking connections again", (unsigned long long)(rss >> 20));
  }
  if (refused.per_ip || refused.full || refused.evicted || refused.memory)
    log_warn("limits in the last second: %u connection(s) refused (%u over max_connections_per_ip, %u over "
             "max_connections, %u over max_memory), %u handshake(s) dropped to make room",
             refused.per_ip + refused.full + refused.memory, refused.per_ip, refused.full, refused.memory,
             refused.evicted);
  memset(&refused, 0, sizeof refused);
}

void net_tick(node *n) {
  uint64_t now = node_now_ms();
  uint64_t rate = n->cfg.peer_rx_rate;
  for (conn *c = n->conns; c; c = c->next) {
    if (c->closing) continue;
    if (rate) { /* refill: a second's worth at most, so bursts stay bounded */
      uint64_t dt = now > c->rx_tokens_ms ? now - c->rx_tokens_ms : 0;
      c->rx_tokens_ms = now;
      c->rx_tokens += (int64_t)(rate * dt / 1000);
      if (c->rx_tokens > (int64_t)rate) c->rx_tokens = (int64_t)rate;
      if (c->rate_paused && c->rx_tokens >= 0) {
        c->rate_paused = false;
        reading_update(c);
      }
    } else if (c->rate_paused) {
      c->rate_paused = false; /* the limit was lifted */
      reading_update(c);
    }
    if (in_handshake(c)) {
      /* At most max_handshakes inbound ones at a time: logged one by one. */
      if (now - c->opened_ms > (uint64_t)n->cfg.handshake_timeout_s * 1000) net_close(c, 0, "handshake timed out");
      continue;
    }
    if (now - c->last_rx_ms > NODE_DEAD_MS) {
      net_close(c, 0, "peer silent for 90 s: presumed dead");
      continue;
    }
    if (now - c->last_tx_ms > NODE_PING_MS) {
      uint8_t m[16];
      size_t len;
      if (!wire_encode_u64(W_PING, now, m, sizeof m, &len)) net_send_msg(c, m, len);
    }
  }
  limits_tick(n);
}
