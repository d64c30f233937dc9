/*
 * trust.h - the trust state: who is a member, which keys write for whom.
 *
 * The state is a deterministic function of the charter and the set of
 * endorse/revoke records, replayed in (timestamp, hash) order, so every node
 * holding the same records reaches the same verdicts whatever order they
 * arrived in (docs/trust.md).  The replay:
 *  - founders are members from time 0;
 *  - member endorse/revoke count only when the issuer is a member at that
 *    point of the replay; an issuer's endorsement of a network withdraws its
 *    revocation of it and vice versa; a non-member becomes a member when
 *    `quorum` current members endorse it, a member stops being one when
 *    `quorum` current members revoke it (both vote sets are then cleared);
 *  - editor and node keys are endorsed and revoked by their network alone;
 *  - a network's records count when it is a member now or when they predate
 *    its removal (so what a network wrote while waiting for admission
 *    becomes valid when it is admitted);
 *  - a key is valid for a network at time t when the last endorse/revoke of
 *    it at or before t was an endorse.
 * The state is kept in memory (a few hundred bytes per network and key) and
 * rebuilt by the store whenever another process changed the trust records.
 */
#ifndef STOA_TRUST_H
#define STOA_TRUST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/charter.h"
#include "proto/record.h"

enum trust_role { TRUST_MEMBER = 1, TRUST_EDITOR = 2, TRUST_NODE = 3 };

/* One endorse or revoke record, reduced to what the replay needs. */
typedef struct trust_event {
  uint64_t ts;
  uint8_t hash[HASH_LEN];
  uint8_t kind;               /* REC_ENDORSE or REC_REVOKE */
  uint8_t role;               /* enum trust_role */
  uint8_t owner[KEY_LEN];     /* issuing network */
  uint8_t subject[KEY_LEN];   /* network or key concerned */
} trust_event;

typedef struct trust_state trust_state;

/* Role from its body name ("member") or 0. */
int trust_role_from_name(const char *s, size_t n);
const char *trust_role_name(int role);

/* New state holding the charter's founders.  STOA_ENOMEM. */
int trust_new(trust_state **out, const charter *c);
void trust_free(trust_state *t);
/* Back to the founders only (before a full replay). */
void trust_reset(trust_state *t);

/*
 * Applies one event.  Events must come in (ts, hash) order; one that sorts
 * before the last applied returns STOA_ESTATE and changes nothing (the caller
 * then replays from trust_reset).  Returns 1 when the event changed the
 * state, 0 when it had no effect (issuer not a member, a repeated vote).
 */
int trust_apply(trust_state *t, const trust_event *ev);
/* True when ev sorts at or after the last applied event. */
bool trust_in_order(const trust_state *t, const trust_event *ev);

/* Whether records of `net` dated `at` count (see above); for the members at
 * a moment of the replay use trust_members. */
bool trust_is_member(const trust_state *t, const uint8_t net[KEY_LEN], uint64_t at);
bool trust_key_valid(const trust_state *t, const uint8_t net[KEY_LEN],
                     const uint8_t key[KEY_LEN], int role, uint64_t at);

/*
 * Whether the record's signer may write it: the owner is a member at the
 * record's time and the signer is the owner, or for org/actor/practice/erase
 * an editor key, or for peer a node or editor key, valid then.  Endorse and
 * revoke must be signed by the network key itself.  0 or STOA_EUNTRUSTED.
 */
int trust_check(const trust_state *t, const rec_header *h);

/* Reduces a decoded endorse/revoke record to an event (body per schema). */
int trust_event_from_record(const rec *r, trust_event *ev);

/* Members now (at time `at`), in order of admission.  Returns the count;
 * fills up to `max` keys. */
size_t trust_members(const trust_state *t, uint64_t at, uint8_t (*out)[KEY_LEN], size_t max);
uint32_t trust_quorum(const trust_state *t);

#endif
