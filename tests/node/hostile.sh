#!/usr/bin/env bash
# hostile.sh - a victim node V and its honest peer H (same federation) face
#   (a) a node of another federation, dialing V and dialed by V: the
#       handshake fails, both say why in their logs;
#   (b) a node of V's federation whose network nobody admitted: refused
#       after HELLO ("not endorsed");
#   (c) a peer with a legitimately endorsed node key (H's) sending forged
#       records over the real protocol (tests/node/evil_peer.c): none is
#       stored, the valid control record sent after them is;
#   (d) garbage: junk instead of the handshake, junk frames, an empty frame,
#       a frame of the largest length, a message before HELLO, a HELLO with
#       a stranger's key, oversized counts and records, an unknown message
#       type, a peer that never speaks: each connection is closed, and the
#       daemon stays up.
# Throughout, V's store changes only by what H sends, and V keeps syncing
# with H.
. "$(dirname "$0")/lib.sh"

if [ -z "${EVIL_PEER:-}" ] || [ ! -x "$EVIL_PEER" ]; then
  echo "EVIL_PEER must name the evil_peer binary (got '${EVIL_PEER:-}')" >&2
  exit 1
fi

# log_has NAME TEXT: NAME's daemon log holds TEXT, in the lines written
# since the last `mark NAME` (all of them if never marked).
declare -A MARK=()
mark() { MARK[$1]=$(wc -l <"$T/$1.log"); }
log_has() { tail -n +$((${MARK[$1]:-0} + 1)) "$T/$1.log" | grep -qF -- "$2"; }

# h_reaches_v WORD: H writes an entry and V receives it - V still works.
h_reaches_v() {
  add_org H "$1"
  local id=$ID
  wait_until "H's entry $1 to reach V" has_ids V "$id"
  expect_found V "$(echo "$1" | tr '[:upper:]' '[:lower:]')" "$id"
}

step "V founds a federation, H joins and is admitted; H dials V"
found V "Hostile Federation"
join H "$T/V.charter"
admit V H
set_peers H V
node_start V
node_start H
wait_until "H to reach V" connected H "$(addr V)"
add_org V "Victimword"
add_org H "Honestword"
wait_converged V H
snapshot "$T/V" "$T/v0.snap"

step "(a) a node of another federation dials V: the handshake fails"
mark V
found X "Other Federation"
set_peers X V
add_org X "Otherfedword"
X1=$ID
node_start X
wait_until "X to give up the handshake with V" log_has X "handshake failed"
log_has X "another federation" || fail "X's log does not say why the handshake failed"
ok --home "$T/X" --json status
expect_eq "X's ready connections" "$(json 'sum(p["state"] == "connected" for p in d["peers"])')" 0
# V saw a connection that ended during the handshake, and never got further.
ok --home "$T/V" --json status
expect_eq "V's ready connections" "$(json 'sum(p["state"] == "connected" for p in d["peers"])')" 1
expect_unchanged "$T/V" "$T/v0.snap"

step "(a) V dials the node of the other federation: V says why it fails"
mark V
ok --home "$T/V" peer add "$(addr X)"
wait_until "V to fail the handshake with X" log_has V "handshake failed (another federation"
v_x_error() { status_of V '[p["last_error"] for p in d["peers"] if p["direction"] == "out"][0]' | grep -q "handshake failed"; }
wait_until "V's status to show the handshake failure" v_x_error
ok --home "$T/V" peer remove "$(addr X)"
node_stop X
expect_unchanged "$T/V" "$T/v0.snap"
s --home "$T/V" show "$X1"
expect_rc 3
h_reaches_v "Honestaftera"
snapshot "$T/V" "$T/v1.snap"

step "(b) a node of a network nobody admitted: refused as not endorsed"
mark V
join Y "$T/V.charter"
set_peers Y V
add_org Y "Strangerword"
Y1=$ID
node_start Y
wait_until "V to refuse Y" log_has V "not endorsed"
wait_until "Y to hear why" log_has Y "peer says: node key is not endorsed"
ok --home "$T/Y" --json status
expect_eq "Y's ready connections" "$(json 'sum(p["state"] == "connected" for p in d["peers"])')" 0
node_stop Y
expect_unchanged "$T/V" "$T/v1.snap"
s --home "$T/V" show "$Y1"
expect_rc 3
ok --home "$T/V" verify
h_reaches_v "Honestafterb"
snapshot "$T/V" "$T/v2.snap"
set_of V "$T/v2.set"
ls_ids V >"$T/v2.ls" || fail "ls on V"

step "(c) forged records from a legitimately endorsed node key"
run "$EVIL_PEER" "$T/H" "$(addr V)" forged "$T/X"
[ "$RC" -eq 0 ] || fail "evil_peer forged: the victim did not acknowledge every message, or closed"
grep -c '^forged ' "$OUT" | grep -qx 8 || fail "evil_peer did not report its 8 forged entries"
CONTROL=$(awk '$1 == "control" { print $2 }' "$OUT")
is_id "$CONTROL" || fail "no control entry id from evil_peer"
cp "$OUT" "$T/evil.out"
wait_until "the control record on V" has_ids V "$CONTROL"
while read -r what label id; do
  [ "$what" = forged ] || continue
  s --home "$T/V" show "$id"
  [ "$RC" -eq 3 ] || fail "forged record ($label, entry $id) is on V (show exits $RC)"
  ok --home "$T/V" --json search forged
  expect_unlisted "$id"
done <"$T/evil.out"
# V's records: exactly those it had, and the control record.
set_of V "$T/v3.set"
expect_eq "records added to V by the hostile peer" "$(comm -13 "$T/v2.set" "$T/v3.set" | wc -l)" 1
expect_eq "records lost by V" "$(comm -23 "$T/v2.set" "$T/v3.set" | wc -l)" 0
ls_ids V >"$T/v3.ls" || fail "ls on V"
expect_eq "entries ls adds on V" "$(comm -13 "$T/v2.ls" "$T/v3.ls")" "$CONTROL"
expect_eq "entries ls lost on V" "$(comm -23 "$T/v2.ls" "$T/v3.ls" | wc -l)" 0
ok --home "$T/V" verify
# The control record is valid: V passes it on to H like any other.
wait_until "the control record to reach H" has_ids H "$CONTROL"
wait_converged V H
h_reaches_v "Honestafterc"
snapshot "$T/V" "$T/v4.snap"

step "(d) garbage on the wire: each connection closed, the daemon stays"
mark V
for mode in garbage-hs garbage zero oversize nohello badhello overcount bigrecord badmsg stall; do
  run "$EVIL_PEER" "$T/H" "$(addr V)" "$mode"
  [ "$RC" -eq 0 ] || fail "evil_peer $mode: the victim did not close the connection"
  echo "    $mode: $(tr '\n' ' ' <"$OUT")"
  daemon_up V || fail "V does not answer after $mode"
done
for why in "handshake failed" "a frame failed to decrypt" "empty frame" "expected HELLO" \
  "node key does not match the handshake" "handshake timed out"; do
  log_has V "$why" || fail "V's log does not mention '$why'"
done
ok --home "$T/V" --json status
expect_eq "V's ready connections after the garbage" \
  "$(json 'sum(p["state"] == "connected" for p in d["peers"])')" 1
expect_unchanged "$T/V" "$T/v4.snap"
ok --home "$T/V" verify
h_reaches_v "Honestafterd"
wait_converged V H

stop_all
echo "PASS $TEST_NAME"
