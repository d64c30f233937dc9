/*
 * wire.h - the messages two nodes exchange (docs/protocol.md §3).
 *
 * Decoding is strict and allocates nothing: a decoded message is a view
 * into the caller's buffer, valid as long as it.  Encoding writes into a
 * caller's buffer of at most WIRE_MSG_MAX bytes.  Every function returns 0
 * or a negative STOA_E* code.
 */
#ifndef STOA_WIRE_H
#define STOA_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/record.h"

#define WIRE_VERSION 1
#define WIRE_FRAME_MAX 65535
#define WIRE_TAG_LEN 16
#define WIRE_MSG_MAX (WIRE_FRAME_MAX - WIRE_TAG_LEN) /* plaintext of one message */
#define WIRE_PROLOGUE "stoa/1"                       /* + NUL + federation id */
#define WIRE_CAPS_MAX 16
#define WIRE_CAP_LEN_MAX 32
#define WIRE_PROOFS_MAX 64
#define WIRE_AGENT_MAX 64
#define WIRE_WANT_MAX 2040
#define WIRE_RECORDS_MAX 4096
#define WIRE_REASON_MAX 200

enum wire_type {
  W_HELLO = 1, W_SYNC, W_MORE, W_DONE, W_WANT, W_RECORDS, W_ACK, W_PING, W_PONG, W_ERROR,
  W_OFFER, W_ZIP, W_LIST, W_ANNOUNCE,
  W__TYPE_MAX = W_ANNOUNCE
};

/* Capabilities, as bits; on the wire as strings. */
enum wire_cap { WCAP_PUSH = 1u << 0, WCAP_ZSTD = 1u << 1, WCAP_ANNOUNCE = 1u << 2 };

enum wire_err {
  WERR_PROTOCOL = 1, WERR_VERSION, WERR_UNTRUSTED, WERR_BUSY, WERR_SHUTDOWN
};

typedef struct wire_hello {
  uint32_t version;
  uint32_t caps;                        /* known capabilities (enum wire_cap) */
  const uint8_t *node;                  /* KEY_LEN */
  const uint8_t *network;               /* KEY_LEN */
  uint32_t nproofs;
  const uint8_t *proof[WIRE_PROOFS_MAX];
  uint32_t proof_len[WIRE_PROOFS_MAX];
  uint64_t set_size;
  const char *agent;
  uint32_t agent_len;
} wire_hello;

typedef struct wire_sync {
  uint32_t session;
  uint32_t first;                       /* index of the first symbol */
  const uint8_t *syms;                  /* encoded symbols, back to back */
  uint32_t syms_len;
  uint64_t set_size;
} wire_sync;

typedef struct wire_more { uint32_t session, next; } wire_more;

typedef struct wire_done {
  uint32_t session;
  uint32_t status;                      /* 0 decoded, 1 given up */
  uint64_t will_send, wants;
} wire_done;

typedef struct wire_want {              /* WANT, OFFER and ANNOUNCE */
  const uint8_t *hashes;                /* n * HASH_LEN bytes */
  uint32_t n;
} wire_want;

/* LIST: part of the sender's whole set, instead of coded symbols. */
typedef struct wire_list {
  uint32_t session;
  const uint8_t *hashes;                /* n * HASH_LEN bytes */
  uint32_t n;
  uint32_t last;                        /* 1 on the final part */
} wire_list;

/* ZIP: one message compressed in the connection's zstd stream. */
typedef struct wire_zip {
  uint32_t raw_len;                     /* the inner message's length */
  const uint8_t *data;
  uint32_t len;
} wire_zip;

/* The records of a RECORDS message: iterate with wire_records_next. */
typedef struct wire_records {
  const uint8_t *p, *end;               /* the remaining array elements */
  uint32_t n, left;
} wire_records;

typedef struct wire_error {
  uint32_t code;
  const char *reason;
  uint32_t reason_len;
} wire_error;

/* ACK: records committed; bytes the receiver holds from this connection,
 * received and not yet committed (0 when the sender of ACK did not say). */
typedef struct wire_ack { uint64_t count, waiting; } wire_ack;

typedef struct wire_msg {
  int type;                             /* enum wire_type */
  union {
    wire_hello hello;
    wire_sync sync;
    wire_more more;
    wire_done done;
    wire_want want;                     /* W_WANT, W_OFFER, W_ANNOUNCE */
    wire_zip zip;
    wire_list list;
    wire_records records;
    wire_ack ack;                       /* W_ACK */
    uint64_t nonce;                     /* W_PING, W_PONG */
    wire_error error;
  } u;
} wire_msg;

/*
 * Decodes one message.  Checks every limit of docs/protocol.md §3 and the
 * types of every element; records inside RECORDS are only checked to be
 * bins of at most REC_MAX bytes (the caller decodes them with rec_decode).
 * Errors: STOA_EMALFORMED, STOA_ETRUNCATED, STOA_ETRAILING, STOA_ETOOBIG,
 * STOA_EUTF8, STOA_EEXT, STOA_EPROTOCOL (unknown type, missing elements).
 */
int wire_decode(const uint8_t *buf, size_t len, wire_msg *m);

/* Next record of a decoded RECORDS message: 1 with *buf and *len set,
 * 0 at the end. */
int wire_records_next(wire_records *r, const uint8_t **buf, size_t *len);

/*
 * Encoders.  Each writes one message into out (capacity cap) and its length
 * into *len.  Errors: STOA_ETOOBIG when it does not fit in cap or in
 * WIRE_MSG_MAX, STOA_EINVAL when an argument breaks a limit.
 */
int wire_encode_hello(const wire_hello *h, uint8_t *out, size_t cap, size_t *len);
int wire_encode_sync(const wire_sync *s, uint8_t *out, size_t cap, size_t *len);
int wire_encode_more(const wire_more *m, uint8_t *out, size_t cap, size_t *len);
int wire_encode_done(const wire_done *d, uint8_t *out, size_t cap, size_t *len);
/* type is W_WANT, W_OFFER or W_ANNOUNCE. */
int wire_encode_hashes(int type, const uint8_t *hashes, uint32_t n, uint8_t *out, size_t cap, size_t *len);
#define wire_encode_want(h, n, o, c, l) wire_encode_hashes(W_WANT, h, n, o, c, l)
int wire_encode_list(const wire_list *l, uint8_t *out, size_t cap, size_t *len);
int wire_encode_zip(uint32_t raw_len, const uint8_t *data, size_t n, uint8_t *out, size_t cap, size_t *len);
int wire_encode_records(const uint8_t *const *recs, const size_t *lens, uint32_t n,
                        uint8_t *out, size_t cap, size_t *len);
int wire_encode_u64(int type, uint64_t v, uint8_t *out, size_t cap, size_t *len); /* PING, PONG */
int wire_encode_ack(const wire_ack *a, uint8_t *out, size_t cap, size_t *len);
int wire_encode_error(uint32_t code, const char *reason, uint8_t *out, size_t cap, size_t *len);

/* Bytes RECORDS adds around its records: a sender packs records while
 * WIRE_RECORDS_OVERHEAD + sum(len + 5) <= WIRE_MSG_MAX. */
#define WIRE_RECORDS_OVERHEAD 8
#define WIRE_RECORD_OVERHEAD 5
/* ZIP adds at most this much around its data. */
#define WIRE_ZIP_OVERHEAD 12

const char *wire_type_name(int type);

#endif
