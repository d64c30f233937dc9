#!/usr/bin/env bash
# partition.sh - three nodes in a line, A - B - C (A dials B, B dials C).
# B goes down (SIGTERM) while A and C keep writing; when B is back, the two
# halves converge through it.  Then the topology changes at run time: A
# drops B and dials C (`stoa peer remove` / `peer add`, saved in stoa.ini),
# and B is told to dial A by editing its stoa.ini and sending SIGHUP.  Every
# change ends with the three nodes holding the same records.
. "$(dirname "$0")/lib.sh"

step "three homes of one federation: A founds, admits B and C"
found A "Partition Federation"
join B "$T/A.charter"
join C "$T/A.charter"
admit A B
admit A C
# The admissions travel by bundle this time, before any daemon starts.
ok --home "$T/A" export -o admissions.bdl
ok --home "$T/B" import admissions.bdl
ok --home "$T/C" import admissions.bdl
set_peers A B
set_peers B C

step "start the line"
node_start C
node_start B
node_start A
wait_until "A to reach B" connected A "$(addr B)"
wait_until "B to reach C" connected B "$(addr C)"
add_org A "Alphaword"
A1=$ID
add_org C "Gammaword"
C1=$ID
wait_converged A B C

step "B goes down; A and C write while it is away"
node_stop B
# A notices: its peer B is no longer connected (it keeps redialing).
a_lost_b() { ! connected A "$(addr B)"; }
wait_until "A to see B gone" a_lost_b
add_org A "Alphaworddown"
A2=$ID
add_org C "Gammaworddown"
C2=$ID
ok --home "$T/A" edit "$A1" --city "Athens"
# B's store, read without its daemon: none of it arrived.
ok --home "$T/B" --json search alphaworddown
expect_eq "B's hits for A's new entry while down" "$(json 'len(d)')" 0
ok --home "$T/B" --json search gammaworddown
expect_eq "B's hits for C's new entry while down" "$(json 'len(d)')" 0

step "B comes back: everything meets"
node_start B
wait_converged A B C
for n in A B C; do
  expect_found "$n" alphaworddown "$A2"
  expect_found "$n" gammaworddown "$C2"
  ok --home "$T/$n" --json show "$A1"
  expect_eq "A's edit on $n" "$(json 'd.get("city")')" "Athens"
done

step "at run time, A drops B and dials C instead"
ok --home "$T/A" peer remove "$(addr B)"
grep -qF "$(addr B)" "$T/A/stoa.ini" && fail "peer remove left B in A's stoa.ini"
ok --home "$T/A" peer add "$(addr C)"
grep -qF "peer = $(addr C)" "$T/A/stoa.ini" || fail "peer add did not save C in A's stoa.ini"
wait_until "A to reach C" connected A "$(addr C)"
ok --home "$T/A" --json peers
expect_eq "A's outgoing peers" "$(json 'sorted(p["addr"] for p in d if p["direction"] == "out")')" "[\"$(addr C)\"]"
s --home "$T/A" peer remove "$(addr B)"
expect_rc 2
expect_err_contains "no such peer"
# B no longer has A as an inbound peer once the close is seen.
b_one_peer() { [ "$(nready B)" = 1 ]; }
wait_until "B to drop A's connection" b_one_peer
add_org A "Alphawordrewired"
A3=$ID
add_org B "Betaword"
B1=$ID
wait_converged A B C
for n in A B C; do
  expect_found "$n" alphawordrewired "$A3"
  expect_found "$n" betaword "$B1"
done

step "SIGHUP: B reads its edited stoa.ini and dials A as well"
echo "peer = $(addr A)" >>"$T/B/stoa.ini"
kill -HUP "${PID[B]}"
wait_until "B to reach A after SIGHUP" connected B "$(addr A)" "$(addr C)"
grep -q "configuration reloaded" "$T/B.log" || fail "B did not log the reload"
add_org B "Betawordreloaded"
B2=$ID
add_org C "Gammawordreloaded"
C3=$ID
wait_converged A B C
for n in A B C; do
  expect_found "$n" betawordreloaded "$B2"
  expect_found "$n" gammawordreloaded "$C3"
done

step "SIGHUP after removing C from B's stoa.ini: B keeps only A"
grep -vF "peer = $(addr C)" "$T/B/stoa.ini" >"$T/B.ini.new" && mv "$T/B.ini.new" "$T/B/stoa.ini"
kill -HUP "${PID[B]}"
b_dials_only_a() {
  [ "$(status_of B 'sorted(p["addr"] for p in d["peers"] if p["direction"] == "out")')" = "[\"$(addr A)\"]" ]
}
wait_until "B to drop C from its peers" b_dials_only_a
connected B "$(addr A)" || fail "B lost A on the second reload"
# The line is now B - A - C: writes at both ends still meet.
add_org B "Betawordlast"
B3=$ID
add_org C "Gammawordlast"
C4=$ID
wait_converged A B C
for n in A B C; do
  expect_found "$n" betawordlast "$B3"
  expect_found "$n" gammawordlast "$C4"
  ok --home "$T/$n" verify
done

step "stoa sync: once converged, every reconciliation finds equal sets"
for n in A B C; do
  ok --home "$T/$n" --json sync
  expect_eq "syncs run by $n" "$(json 'len(d["syncs"]) >= 1')" true
  expect_eq "sets equal at $n's sync" "$(json 'all(s["equal"] is True for s in d["syncs"])')" true
done
s --home "$T/C" sync 127.0.0.1:1
expect_rc 1
expect_err_contains "no such connected peer"

stop_all
echo "PASS $TEST_NAME"
