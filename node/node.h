/*
 * node.h - stoad's state, shared by the files of node/.
 *
 * One libuv loop runs everything: the listener, the connections, the
 * control socket and the timers.  Only signature checks leave the loop (to
 * libuv's thread pool); commits run on the loop, in batches.
 */
#ifndef STOA_NODE_H
#define STOA_NODE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "proto/iblt.h"
#include "proto/noise.h"
#include "proto/wire.h"
#include "store/store.h"

#define NODE_SKETCH_CAP 65536u          /* cached coded symbols */
#define NODE_HANDSHAKE_MS 10000
#define NODE_PING_MS 30000
#define NODE_DEAD_MS 90000
#define NODE_INFLIGHT_MAX (8u << 20)    /* unacknowledged record bytes per peer */
#define NODE_RXQUEUE_MAX (16u << 20)    /* received, not yet committed, per peer */
#define NODE_BATCH 4096                 /* records per commit */
#define NODE_ADDR_MAX 280

/* ---- log.c ---------------------------------------------------------------- */

enum { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };
extern int log_level;
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* ---- config.c --------------------------------------------------------------- */

#define CONFIG_PEERS_MAX 256

typedef struct node_config {
  char listen[NODE_ADDR_MAX];          /* host:port, "" = do not listen */
  char peers[CONFIG_PEERS_MAX][NODE_ADDR_MAX];
  int npeers;
  unsigned sync_interval_s;            /* periodic reconciliation */
  unsigned max_conns;                  /* inbound + outbound */
  char log_level[16];
} node_config;

/* Reads HOME/stoa.ini over the defaults.  Errors are printed; returns 0 or -1. */
int config_load(node_config *c, const char *path);
void config_defaults(node_config *c);
/* Splits "host:port" / "[v6]:port".  0 or -1. */
int config_split_addr(const char *addr, char *host, size_t hcap, int *port);

/* ---- connections ------------------------------------------------------------ */

struct node;
struct sync_session;

enum conn_state { CS_HANDSHAKE, CS_HELLO, CS_READY, CS_CLOSING };

typedef struct conn_stats {
  uint64_t rx_bytes, tx_bytes, rx_records, tx_records, rx_new;
  uint64_t last_sync_ms;
  int last_sync_equal;                  /* -1 unknown, 0 differed, 1 equal */
} conn_stats;

/* A set of record hashes seen on one connection (sent or received), so
 * that no record goes twice over it.  Open addressing on 8-byte prefixes. */
typedef struct hashset { uint64_t *v; size_t cap, n; } hashset;
bool hashset_has(const hashset *h, const uint8_t hash[HASH_LEN]);
int hashset_add(hashset *h, const uint8_t hash[HASH_LEN]);
void hashset_free(hashset *h);

typedef struct outbuf {                 /* a queued frame */
  struct outbuf *next;
  size_t len;
  uint8_t data[];
} outbuf;

typedef struct rxbatch rxbatch;

typedef struct conn {
  struct node *node;
  struct conn *next;
  uv_tcp_t tcp;
  int state;
  int refs;                             /* the socket, and verify jobs */
  bool initiator;
  bool closing;
  char addr[NODE_ADDR_MAX];             /* the peer, as configured or seen */
  int peer_index;                       /* into node->peers, -1 for inbound */
  noise_hs hs;
  noise_cs tx, rx;
  uint8_t *rbuf;                        /* frame reassembly */
  size_t rlen, rcap;
  outbuf *out_head, *out_tail;
  size_t out_bytes;
  bool writing;
  uint64_t last_rx_ms, last_tx_ms, opened_ms;
  /* after HELLO */
  uint8_t peer_node[KEY_LEN], peer_network[KEY_LEN];
  uint32_t peer_caps;
  uint64_t peer_set_size;
  hashset seen;                         /* hashes sent to or received from it */
  /* reconciliation */
  struct sync_session *out_sync;        /* we send symbols */
  struct sync_session *in_sync;         /* we decode */
  uint32_t next_session;
  /* records to send: hashes waiting, and flow control */
  uint8_t *sendq;                       /* HASH_LEN each */
  size_t sendq_n, sendq_cap, sendq_pos;
  uint64_t inflight;                    /* bytes sent, not acknowledged */
  size_t *inflight_msgs;                /* bytes per unacknowledged RECORDS */
  size_t nin, capin;
  /* records received, being verified or waiting for commit */
  size_t rx_queued;
  bool read_paused;
  conn_stats st;
  void *ctl_waiting;                    /* the control client waiting for our sync */
} conn;

/* A configured outgoing peer and its reconnection state. */
typedef struct peer_slot {
  char addr[NODE_ADDR_MAX];
  bool active;
  conn *c;
  uv_timer_t retry;
  bool retry_init;
  unsigned backoff_ms;
  uint64_t last_error_ms;
  char last_error[96];
  conn_stats st;                        /* kept across reconnections */
} peer_slot;

typedef struct node {
  uv_loop_t *loop;
  char home[4096];
  store *st;
  node_config cfg;
  uint8_t fed[HASH_LEN];
  uint8_t node_pk[KEY_LEN], node_sk[64], network[KEY_LEN];
  uint8_t noise_priv[32];
  iblt_sketch sketch;
  uint64_t seq;                         /* last record in the sketch */
  uint64_t records;
  uv_tcp_t listener;
  bool listening;
  uv_pipe_t ctl;
  bool ctl_open;
  uv_signal_t sig_term, sig_int, sig_hup;
  uv_timer_t tick;
  conn *conns;
  unsigned nconns;
  peer_slot peers[CONFIG_PEERS_MAX];
  int npeers;
  bool stopping;
  /* ingest */
  rxbatch *batches;                     /* verified, waiting for commit */
  int jobs;                             /* verifications in flight */
  uv_timer_t commit_timer;              /* gathers small batches into one commit */
  uint64_t ingested;
} node;

uint64_t node_now_ms(void);

/* net.c: listener, dialing, frames, Noise, timers. */
int net_listen(node *n, const char *addr);
void net_dial(node *n, int peer_index);
void net_send_msg(conn *c, const uint8_t *msg, size_t len);
void net_close(conn *c, int err_code, const char *why);
void net_peer_failed(node *n, int peer_index, const char *why);
void net_tick(node *n);                 /* timeouts and keep-alives, every second */
void conn_unref(conn *c);
void net_resume(conn *c);             /* reading again after back-pressure */

/* peer.c: the protocol once the handshake is done. */
void peer_start(conn *c);
void peer_on_msg(conn *c, const uint8_t *msg, size_t len);
void peer_on_closed(conn *c);
void peer_pump(conn *c);                /* send queued records within the window */
void peer_push_new(node *n);            /* follow the store; push new records */
int peer_sync_start(conn *c);           /* start a reconciliation session */
void node_commit(node *n);              /* commit verified batches */

/* ctl.c: the control socket. */
int ctl_listen(node *n);
void ctl_sync_done(conn *c);

/* main.c */
void node_stop(node *n);
int node_peer_add(node *n, const char *addr, bool save);
int node_peer_remove(node *n, const char *addr);

#endif
