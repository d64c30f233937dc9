#!/usr/bin/env bash
# rekey.sh - a node key rotated while the daemon runs (`stoa key rotate
# --role node`, docs/trust.md).  B's daemon sends A the endorsement of the
# new key and the revocation of the old one, keeps its old key until it is
# reloaded (SIGHUP), then closes its connections and comes back to A with
# the new key, which A accepts; records flow both ways again.
. "$(dirname "$0")/lib.sh"

step "A founds, B joins and is admitted; B dials A"
pair A B "Rekey Federation"
add_org B Before
wait_converged A B
OLD=$(status_of B 'd["node"]')
expect_eq "A sees B's node key" "$(status_of A "[p['node'] for p in d['peers'] if p['state'] == 'connected']")" "[\"${OLD:0:16}\"]"

step "B rotates its node key while running: A gets the new endorsement and the revocation"
ok --home "$T/B" key rotate --role node
NEW=$(whoami_field "$T/B" node_key)
[ "$NEW" != "$OLD" ] || fail "the node key did not change"
wait_converged A B
ok --home "$T/A" --json members
expect_eq "B's node key events on A" \
  "$(json '[e["action"] for e in d["events"] if e["role"] == "node" and e["subject"] in ("'"$OLD"'", "'"$NEW"'")]')" \
  '["endorsed", "endorsed", "revoked"]'
expect_eq "B's daemon keeps its key until reloaded" "$(status_of B 'd["node"]')" "$OLD"
# A no longer trusts the old key: it closes the connection made with it,
# and refuses B's next handshakes with it.
a_dropped_old() { [ "$(status_of A "[p['node'] for p in d['peers'] if p['state'] == 'connected']")" = "[]" ]; }
wait_until "A to close the connection of B's revoked key" a_dropped_old
grep -q "node key revoked" "$T/A.log" || fail "A's log does not say why it closed B's connection"
wait_until "A to refuse B's old key at a handshake" grep -q "not endorsed by a member network" "$T/A.log"

step "SIGHUP: B takes the new key and reconnects with it"
kill -HUP "${PID[B]}"
wait_until "B's daemon to use the new key" eval '[ "$(status_of B "d[\"node\"]")" = "$NEW" ]'
b_on_a_new() { [ "$(status_of A "[p['node'] for p in d['peers'] if p['state'] == 'connected']")" = "[\"${NEW:0:16}\"]" ]; }
wait_until "A to be connected to B's new key" b_on_a_new
grep -q "node key changed" "$T/B.log" || fail "B's log does not say its key changed"

step "records flow both ways over the new connection"
add_org B After
AFTER_B=$ID
add_org A Reply
REPLY_A=$ID
wait_converged A B
has_ids A "$AFTER_B" || fail "B's new entry did not reach A"
has_ids B "$REPLY_A" || fail "A's new entry did not reach B"

step "verify, and stop cleanly"
for n in A B; do ok --home "$T/$n" verify; done
stop_all
echo "PASS $TEST_NAME"
