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
#include "proto/zip.h"
#include "store/store.h"

#define NODE_SKETCH_CAP 65536u          /* cached coded symbols */
#define NODE_HANDSHAKE_MS 10000
#define NODE_PING_MS 30000
#define NODE_DEAD_MS 90000
#define NODE_INFLIGHT_MAX (32u << 20)   /* unacknowledged record bytes per peer, at most */
#define NODE_INFLIGHT_MIN (32u << 10)   /* ... and at least (the window adapts between) */
#define OFFER_CHUNK_MAX 512             /* hashes offers run ahead of the WANTs, at least */
#define NODE_WANT_WINDOW 16384          /* hashes asked for and not yet answered, at most */
#define NODE_SENDQ_MAX (1u << 20)       /* records a peer may have asked us for */
#define NODE_WANT_LIST_MAX (1u << 20)   /* hashes remembered per peer */
#define NODE_ANNOUNCE_MAX (1u << 16)    /* relayed hashes waiting to be announced to a peer:
                                         * past it the next sync tells it */
#define NODE_RXQUEUE_MAX (32u << 20)    /* received, not yet committed, per peer */
#define NODE_BATCH 16384                /* verified records that commit at once; fewer */
#define NODE_COMMIT_WAIT_MS 1000        /* wait at most this long while more are coming, */
#define NODE_COMMIT_IDLE_MS 10          /* or until none came for this long */
#define NODE_SEEN_RECENT (1u << 18)     /* hashes a connection remembers seeing, at least:
                                         * more than its receive queue holds (32 MiB of
                                         * records of >= 150 bytes) */
#define NODE_OFFERED_RECENT (2 * NODE_WANT_WINDOW) /* hashes offered, remembered to count the
                                         * asks: more than offers lead by (+ an OFFER) */
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
#define CONFIG_ANNOUNCE_MAX 8             /* addresses of a peer record (schema) */

typedef struct node_config {
  char listen[NODE_ADDR_MAX];          /* host:port, "" = do not listen */
  char peers[CONFIG_PEERS_MAX][NODE_ADDR_MAX];
  int npeers;
  unsigned sync_interval_s;            /* periodic reconciliation */
  unsigned max_conns;                  /* inbound + outbound */
  char log_level[16];
  /* hubs and the address book (docs/hubs.md) */
  bool hub;                            /* relay for a region: more connections */
  char announce[CONFIG_ANNOUNCE_MAX][NODE_ADDR_MAX]; /* published in our peer record */
  int nannounce;
  unsigned max_outgoing;               /* outgoing connections, configured ones included */
  unsigned book_size;                  /* address book entries */
  /* links (docs/config.md) */
  uint64_t upload_rate, peer_upload_rate; /* bytes/s, 0 = no cap */
  int zstd_level;                      /* 0 = do not compress */
  unsigned sync_max_symbols;           /* the decoder gives up beyond this */
  /* [limits]: what one peer, or many, may cost us (docs/config.md) */
  unsigned max_conns_per_ip;           /* inbound connections from one address */
  unsigned max_handshakes;             /* inbound connections not yet past HELLO */
  unsigned handshake_timeout_s;        /* handshake and HELLO must finish within */
  uint64_t peer_rx_rate;               /* bytes/s read from one connection, 0 = no limit */
  uint64_t max_rx_queue;               /* received record bytes not yet committed, all peers */
  uint64_t max_memory;                 /* RssAnon above which inbound connections are refused, 0 = unchecked */
  uint64_t max_sync_symbols;           /* coded symbols all decoders hold together */
} node_config;

/* Reads HOME/stoa.ini over the defaults.  Errors are printed; returns 0 or -1. */
int config_load(node_config *c, const char *path);
void config_defaults(node_config *c);
/* Splits "host:port" / "[v6]:port".  0 or -1. */
int config_split_addr(const char *addr, char *host, size_t hcap, int *port);
/* 0 when addr is what stoad can listen on: a numeric IPv4 or [IPv6]
 * address and a port (a name would need a resolver at start; "0.0.0.0" or
 * "[::]" for every interface). */
int config_listen_valid(const char *addr);

/* ---- connections ------------------------------------------------------------ */

struct node;
struct msgpack_sbuffer;
struct sync_session;

enum conn_state { CS_HANDSHAKE, CS_HELLO, CS_READY, CS_CLOSING };

typedef struct conn_stats {
  uint64_t rx_bytes, tx_bytes, rx_records, tx_records, rx_new;
  uint64_t rx_dup;                      /* received records we already held */
  uint64_t rx_pending;                  /* received records put in the pending area */
  uint64_t tx_announced, rx_announced;  /* hashes of relayed records announced (ANNOUNCE) */
  uint64_t zip_raw, zip_out;            /* bytes before and after compression */
  uint64_t zip_plain;                   /* RECORDS bytes sent plain: the peer was busy */
  uint64_t last_sync_ms;
  int last_sync_equal;                  /* -1 unknown, 0 differed, 1 equal */
} conn_stats;

/* A set of record hashes.  Open addressing on 8-byte prefixes. */
typedef struct hashset { uint64_t *v; size_t cap, n; } hashset;
bool hashset_has(const hashset *h, const uint8_t hash[HASH_LEN]);
int hashset_add(hashset *h, const uint8_t hash[HASH_LEN]);
void hashset_free(hashset *h);
/* The last hashes added to a set, at least `limit` and at most twice that:
 * two generations, the older dropped when the newer fills.  For what one
 * connection has seen (sent or received), so that no record goes twice
 * over it, with memory that does not grow with the length of a sync. */
typedef struct hashrecent { hashset cur, old; size_t limit; } hashrecent;
bool hashrecent_has(const hashrecent *h, const uint8_t hash[HASH_LEN]);
int hashrecent_add(hashrecent *h, const uint8_t hash[HASH_LEN]);
void hashrecent_free(hashrecent *h);
/* Appends a hash to a growing array (*v holds *n, room for *cap).
 * 0 or STOA_ENOMEM (the array unchanged). */
int hashes_push(uint8_t **v, size_t *n, size_t *cap, const uint8_t h[HASH_LEN]);

typedef struct outbuf {                 /* a queued frame */
  struct outbuf *next;
  size_t len;
  uint8_t data[];
} outbuf;

typedef struct rxbatch rxbatch;

/* A token bucket: `rate` bytes per second (0 = no limit), bursts of half
 * a second.  A write may overdraw it; the debt delays the next one, so
 * the average holds exactly. */
typedef struct rate_bucket { uint64_t rate; int64_t tokens; uint64_t last_ms; } rate_bucket;

/* What we lack and one peer has (found by a sync, or offered), kept
 * across that peer's connections, keyed by its Noise static key: after a
 * cut, the next connection asks for the rest instead of reconciling the
 * whole difference again. */
typedef struct peer_want {
  struct peer_want *next;
  uint8_t key[32];
  uint8_t *h;                           /* HASH_LEN each */
  size_t n, cap, pos;                   /* pos: asked for on this connection */
  hashset in;                           /* what h holds */
  bool active;                          /* a connection uses it */
  /* What we found the peer lacks, offered a part at a time; the rest is
   * offered on its next connection. */
  uint8_t *off;
  size_t off_n, off_pos;
  uint32_t off_chunk;
  uint64_t come, got;                   /* hashes the peer said it would offer
                                         * (its DONE), and offered since */
  uint64_t got_ms;                      /* when offers or records last came from it */
} peer_want;
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
  hashrecent seen;                      /* hashes sent to or received from it, lately */
  /* reconciliation */
  struct sync_session *out_sync;        /* we send symbols */
  struct sync_session *in_sync;         /* we decode */
  uint32_t next_session;
  /* records to send, best first (trust records, then newest), and flow
   * control with a window that follows the acknowledged rate */
  struct sendq_ent *sendq;
  size_t sendq_n, sendq_cap, sendq_pos;
  bool sendq_pushed;                    /* pushes appended since the last sort */
  /* records we relay, announced by hash (ANNOUNCE) for the peer to ask */
  uint8_t *ann;
  size_t ann_n, ann_cap, ann_pos;
  uint64_t inflight;                    /* bytes sent, not acknowledged */
  uint64_t window;                      /* current limit of inflight */
  uint64_t acked, ack_rate;             /* bytes acknowledged this second; bytes/s */
  uint64_t peer_waiting;                /* its last ACK: bytes it holds uncommitted */
  bool plain;                           /* records go uncompressed (peer_busy) */
  uint64_t rx_mark, rx_rate;            /* st.rx_bytes a second ago; bytes/s */
  zip_tx *ztx;                          /* compression, when both speak zstd */
  zip_rx *zrx;
  rate_bucket up;                       /* per-peer upload cap */
  bool rate_blocked;
  /* records to ask for */
  peer_want *pw;
  uint32_t want_out;                    /* asked for, not yet answered (estimate) */
  uint64_t last_records_ms;
  bool sync_deferred;                   /* sync once the wanted records are in */
  uint64_t offer_seq;                   /* offering all our hashes from here (0: not) */
  uint32_t want_chunk;                  /* size of the next WANT: it grows */
  uint64_t last_offer_ms, last_want_ms; /* pacing of OFFER when no WANT comes */
  uint64_t offered;                     /* hashes offered to it on this connection */
  size_t off_start;                     /* pw->off_pos when this connection's offers began */
  hashrecent offered_set;               /* hashes offered on this connection, lately */
  uint64_t offered_asked;               /* how many of them it asked for */
  size_t *inflight_msgs;                /* bytes per unacknowledged RECORDS */
  size_t nin, capin;
  /* records received, being verified or waiting for commit */
  size_t rx_queued;
  bool read_paused;
  /* net.c's own reasons to stop reading (limits) */
  bool rate_paused;                     /* over [limits] peer_rx_rate until the next tick */
  bool out_paused;                      /* it does not read what we send: we stop reading it */
  int64_t rx_tokens;                    /* bytes it may send now (token bucket) */
  uint64_t rx_tokens_ms;
  /* Counters: an outgoing connection counts into its peer slot's, so
   * that they run across reconnections and batches that commit after a
   * close still count; an inbound one into its own. */
  conn_stats *st, own_st;
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
  bool from_book;                       /* dialed from the address book, not configured */
  bool synced;                          /* peers.c noted a finished sync on this connection */
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
  uint64_t dec_symbols;                 /* held by all reconciliation decoders ([limits] max_sync_symbols) */
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
  /* The commit in the thread pool (one at a time): the first commit_nb
   * batches of `batches`, commit_k records. */
  bool committing;
  uint64_t batch_since;                 /* uv_now when the first uncommitted record was verified */
  uv_work_t commit_work;
  size_t commit_nb, commit_k;
  int commit_err;
  store_counts commit_cnt;
  uint64_t ingested;
  struct peers_book *book;              /* peers.c: the address book */
  peer_want *wants;                     /* want.c */
  rate_bucket up;                       /* the total upload cap */
  uv_timer_t rate_timer;
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
void net_rates_init(node *n);           /* (re)applies the upload caps */

/* peer.c: the protocol once the handshake is done. */
void peer_start(conn *c);
void peer_on_msg(conn *c, const uint8_t *msg, size_t len);
void peer_on_closed(conn *c);
void peer_pump(conn *c);                /* send queued records within the window */
void peer_push_new(node *n);            /* follow the store; push new records */
int peer_sync_start(conn *c);           /* start a reconciliation session */
void node_commit(node *n);              /* commit verified batches */
void peer_tick(node *n);                /* windows, stalled asking: every second */

/* want.c: asking for what we lack, across connections. */
void want_attach(conn *c);              /* after the handshake: the peer's list */
void want_detach(conn *c);
void want_add(conn *c, const uint8_t *hashes, size_t n); /* we lack these, the peer has them */
void want_offered(conn *c, const uint8_t *hashes, size_t n); /* an OFFER: want_add, and counted */
void want_announced(conn *c, const uint8_t *hashes, size_t n); /* an ANNOUNCE: want_add what no other connection brings */
void want_clear(conn *c);               /* a new sync result replaces the list */
void want_pump(conn *c);                /* ask within the window */
void want_on_records(conn *c, uint32_t n);
void want_tick(conn *c, uint64_t now);
size_t want_left(const conn *c);        /* asked for or to ask, not yet here */
bool want_busy(const conn *c);          /* something still to ask for or to come */
void want_free_all(node *n);

/* rate.c: upload caps. */
void rate_init(rate_bucket *b, uint64_t bytes_per_s);
/* Milliseconds before a write may go now (0: at once). */
uint64_t rate_wait(rate_bucket *b, uint64_t now);
void rate_take(rate_bucket *b, size_t bytes);

/* ctl.c: the control socket. */
int ctl_listen(node *n);
void ctl_sync_done(conn *c);

/* main.c */
void node_stop(node *n);
int node_peer_add(node *n, const char *addr, bool save);
int node_peer_remove(node *n, const char *addr);
/* Opens an outgoing slot for an address-book peer (not saved, not retried
 * on failure: peers_slot_failed frees it).  Its index, or a negative code. */
int node_peer_add_book(node *n, const char *addr);
/* Frees slot i without touching stoa.ini; its connection, if any, closes
 * with `why`. */
void node_peer_release(node *n, int i, const char *why);

/* peers.c: signed peer records, the address book, hub mode (docs/hubs.md). */
/* Allocates the book (cfg.book_size entries) and reads HOME/peers.book, the
 * history of the last run.  0 or STOA_ENOMEM. */
int peers_init(node *n);
/* Learns the addresses of an accepted peer record (called for every record
 * the node follows, so the book is rebuilt from the store at start). */
void peers_learn(node *n, const rec *r);
/* Publishes this node's own peer record from cfg.announce and cfg.hub when
 * the store holds none with the same body (or it is older than a week). */
void peers_announce(node *n);
/* Every second: notes syncs, drops connections to ourselves and duplicate
 * ones, dials address-book peers up to cfg.max_outgoing, saves the book. */
void peers_tick(node *n);
/* net.c: an address-book slot failed or closed; frees the slot and backs
 * the address off. */
void peers_slot_failed(node *n, int i, const char *why);
/* Saves the book to HOME/peers.book and frees it. */
void peers_close(node *n);
/* A new address_book size (SIGHUP).  A smaller book drops the addresses
 * worth least (not dialed, never synced, failing; the oldest record
 * first); a larger one takes addresses as peer records come (every node
 * signs its record again weekly), or from the store at the next start. */
void peers_resize(node *n, unsigned size);
/* The book for `stoa peers --book`: packs into sb one msgpack map per
 * address, the most useful first, while sb stays under `room` bytes;
 * *listed gets their number, *total the book's size. */
void peers_book_pack(const node *n, struct msgpack_sbuffer *sb, size_t room, uint32_t *listed, uint32_t *total);

#endif
