#!/usr/bin/env bash
# line.sh - five nodes of one federation in a line, n1 - n2 - n3 - n4 - n5,
# each dialing the next.  n1 founded the federation and admitted the four
# others, but nobody carried a bundle: the admissions reach the others only
# through the daemons (HELLO proofs, then reconciliation), hop by hop.  Every
# node writes while running, some of it before it knows it is a member; all
# five end with the same records, and every entry is found everywhere.
. "$(dirname "$0")/lib.sh"

step "five homes: n1 founds, n2..n5 join and are admitted by n1"
found n1 "Line Federation"
for i in 2 3 4 5; do join "n$i" "$T/n1.charter"; done
for i in 2 3 4 5; do admit n1 "n$i"; done
for i in 1 2 3 4; do set_peers "n$i" "n$((i + 1))"; done

step "start the daemons, the far end first"
for i in 5 4 3 2 1; do node_start "n$i"; done

step "every node writes at once, admitted or not yet"
declare -A FIRST=()
for i in 1 2 3 4 5; do
  add_org "n$i" "Firstword$i"
  FIRST[$i]=$ID
done

step "the line comes up: each node reaches the next"
for i in 1 2 3 4; do
  wait_until "n$i to be connected to n$((i + 1))" connected "n$i" "$(addr "n$((i + 1))")"
done
for i in 1 2 3 4 5; do
  ok --home "$T/n$i" --json whoami
  expect_eq "n$i is a member" "$(json 'd["member"]')" true
done

step "first round: every entry everywhere"
wait_converged n1 n2 n3 n4 n5
for i in 1 2 3 4 5; do
  for j in 1 2 3 4 5; do expect_found "n$i" "firstword$j" "${FIRST[$j]}"; done
done

step "second round: each node writes again, n3 edits its entry"
declare -A SECOND=()
for i in 5 4 3 2 1; do
  add_org "n$i" "Secondword$i"
  SECOND[$i]=$ID
done
ok --home "$T/n3" edit "${FIRST[3]}" --city "Thessaloniki"
wait_until "the second round on n1 and n5" has_ids n1 "${SECOND[@]}"
wait_until "the second round on n5" has_ids n5 "${SECOND[@]}"
wait_converged n1 n2 n3 n4 n5
for i in 1 2 3 4 5; do
  for j in 1 2 3 4 5; do expect_found "n$i" "secondword$j" "${SECOND[$j]}"; done
  ok --home "$T/n$i" --json show "${FIRST[3]}"
  expect_eq "n3's edit on n$i" "$(json 'd.get("city")')" "Thessaloniki"
  expect_eq "n3's entry versions on n$i" "$(json 'd["versions"]')" 2
done
# Ten entries of the test and each network's nothing else: every node lists
# exactly the same ids (checked by same_sets), and holds all ten.
expect_eq "entries on n1" "$(wc -l <"$T/.ids.n1")" 10
ls_ids n1 >"$T/ls.n1" || fail "ls on n1"
expect_eq "entries listed by ls on n1" "$(wc -l <"$T/ls.n1")" 10

step "the counters agree with what moved"
for i in 1 2 3 4 5; do
  ok --home "$T/n$i" --json status
  expect_eq "n$i's record count" "$(json 'd["records"]')" "$(wc -l <"$T/.set.n1")"
done

step "verify, and stop cleanly"
for i in 1 2 3 4 5; do ok --home "$T/n$i" verify; done
stop_all
echo "PASS $TEST_NAME"
