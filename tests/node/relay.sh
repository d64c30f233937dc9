#!/usr/bin/env bash
# relay.sh - relayed records are announced, not pushed whole
# (docs/protocol.md §3, Push).  A, B and C are all connected to each other.
# A writes RELAY_N records while running: it pushes its own records whole
# to B and C.  B and C, which both receive them from A, relay each to the
# other by hash (ANNOUNCE), and ask for a record only when they lack it; so
# each receives every record about once, where pushing relayed records
# whole would bring most of them twice.  Then C is cut off from A: what A
# writes next reaches C only through B, announced and then asked for.
. "$(dirname "$0")/lib.sh"

N=${RELAY_N:-400}

step "A founds; B and C join and are admitted; all three connect"
found A "Relay Federation"
join B "$T/A.charter"
join C "$T/A.charter"
admit A B
admit A C
set_peers B A C
set_peers C A
node_start A
node_start B
node_start C
wait_until "B to be connected to A and C" connected B "$(addr A)" "$(addr C)"
wait_until "C to be connected to A" connected C "$(addr A)"
wait_converged A B C

# Records each node received whole, and of those it held already.
received() { status_of "$1" "sum(p['rx_records'] for p in d['peers'])"; }
dups() { status_of "$1" "sum(p['rx_dup'] for p in d['peers'])"; }
rb0=$(received B)
rc0=$(received C)

step "A adds $N organisations while running"
orgs_jsonl "$N" "Relay organisation" SN >bulk.jsonl
ok --home "$T/A" --quiet add --from-json bulk.jsonl
wait_converged A B C

rb=$(($(received B) - rb0))
rc=$(($(received C) - rc0))
ab=$(status_of B "sum(p['tx_announced'] for p in d['peers'])")
ac=$(status_of C "sum(p['tx_announced'] for p in d['peers'])")
echo "    received whole: B $rb, C $rc of $N; announced: by B $ab, by C $ac; already held: B $(dups B), C $(dups C)"
[ $((ab + ac)) -ge "$N" ] || fail "B and C announced $((ab + ac)) hashes of the $N records they relay"
ok --home "$T/B" status
grep -q "relayed records announced by hash: [1-9][0-9]* to it" "$OUT" || fail "stoa status on B does not show what it announced"
# Each relays all N to the other: pushed whole, most would arrive twice.
[ "$rb" -le $((N + N / 10)) ] || fail "B received $rb records whole for $N new ones"
[ "$rc" -le $((N + N / 10)) ] || fail "C received $rc records whole for $N new ones"

step "A and C part: what A writes reaches C through B, announced"
ok --home "$T/C" peer remove "$(addr A)"
wait_until "C to have no connection to A" eval '[ "$(nready C)" = 1 ] && [ "$(nready A)" = 1 ]'
ac0=$(status_of C "sum(p['rx_announced'] for p in d['peers'])")
add_org A "Relayword"
RID=$ID
wait_until "C to hold A's new entry" has_ids C "$RID"
expect_found C relayword "$RID"
ac1=$(status_of C "sum(p['rx_announced'] for p in d['peers'])")
[ "$ac1" -gt "$ac0" ] || fail "C got A's new entry, but B announced nothing to it"
wait_converged A B C

step "verify, and stop cleanly"
for n in A B C; do ok --home "$T/$n" verify; done
stop_all
echo "PASS $TEST_NAME"
