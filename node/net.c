/*
 * net.c - TCP, frames and the Noise handshake.
 *
 * A frame is a 2-byte big-endian length and that many bytes: a Noise
 * handshake message, then Noise transport messages each holding one
 * protocol message (docs/protocol.md §1-2).  Reading stops while a peer's
 * received records wait for verification (back-pressure).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "node/node.h"
#include "proto/err.h"

typedef struct wreq {
  uv_write_t req;
  conn *c;
  outbuf *ob;
} wreq;

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

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
  c->st.last_sync_equal = -1;
  uv_tcp_init(n->loop, &c->tcp);
  c->tcp.data = c;
  c->next = n->conns;
  n->conns = c;
  n->nconns++;
  return c;
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
  hashset_free(&c->seen);
  free(c->rbuf);
  free(c->sendq);
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
    p->st = c->st;
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
  c->out_bytes -= w->ob->len;
  free(w->ob);
  free(w);
  c->writing = false;
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

static void start_write(conn *c) {
  if (c->writing || !c->out_head || uv_is_closing((uv_handle_t *)&c->tcp)) return;
  outbuf *ob = c->out_head;
  c->out_head = ob->next;
  if (!c->out_head) c->out_tail = NULL;
  wreq *w = malloc(sizeof *w);
  if (!w) { free(ob); close_now(c); return; }
  w->c = c;
  w->ob = ob;
  uv_buf_t b = uv_buf_init((char *)ob->data, (unsigned)ob->len);
  c->refs++;
  c->writing = true;
  int r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
  if (r < 0) {
    c->writing = false;
    c->refs--;
    c->out_bytes -= ob->len;
    free(ob);
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
  c->st.tx_bytes += ob->len;
  c->last_tx_ms = node_now_ms();
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
    c->st.rx_bytes += 2 + len;
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
  frames(c);
  if (c->read_paused && !c->closing) uv_read_stop((uv_stream_t *)&c->tcp);
}

void net_resume(conn *c) {
  if (!c->read_paused || c->closing) return;
  c->read_paused = false;
  frames(c); /* what arrived before the pause */
  if (!c->read_paused && !c->closing) uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void conn_begin(conn *c) {
  uv_tcp_nodelay(&c->tcp, 1);
  uv_tcp_keepalive(&c->tcp, 1, 60);
  if (hs_init(c)) { net_close(c, 0, "cannot start the handshake"); return; }
  uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  if (c->initiator) hs_write(c);
}

/* ---- listening ------------------------------------------------------------------- */

static void on_connection(uv_stream_t *server, int status) {
  node *n = server->data;
  if (status < 0) { log_warn("accept: %s", uv_strerror(status)); return; }
  conn *c = conn_new(n, false, -1);
  if (!c) return;
  if (uv_accept(server, (uv_stream_t *)&c->tcp)) { close_now(c); return; }
  struct sockaddr_storage ss;
  int sl = sizeof ss;
  if (!uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl)) fmt_addr((struct sockaddr *)&ss, c->addr, sizeof c->addr);
  if (n->nconns > n->cfg.max_conns || n->stopping) {
    log_warn("%s: refused: %u connections already", c->addr, n->nconns - 1);
    close_now(c);
    return;
  }
  log_debug("%s: inbound connection", c->addr);
  conn_begin(c);
}

int net_listen(node *n, const char *addr) {
  char host[256];
  int port, r;
  struct sockaddr_storage ss;
  if (config_split_addr(addr, host, sizeof host, &port)) return UV_EINVAL;
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) && uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss))
    return UV_EINVAL;
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

void net_tick(node *n) {
  uint64_t now = node_now_ms();
  for (conn *c = n->conns; c; c = c->next) {
    if (c->closing) continue;
    if (c->state == CS_HANDSHAKE || c->state == CS_HELLO) {
      if (now - c->opened_ms > NODE_HANDSHAKE_MS) net_close(c, 0, "handshake timed out");
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
}
