#!/usr/bin/env bash
# crash.sh - stoad killed with SIGKILL in the middle of large syncs, and
# stoad on a failing disk.
#
# Part 1.  A (a running stoad) holds NREC small records; B, started empty
# each time from a pristine home that knows A's trust records, dials A and
# at the same moment gets the same records from $SENDER (test_durability's
# sender helper, acting as A's node), which prints "acked HASH" for every
# record of each RECORDS message B acknowledged - and B acknowledges only
# after the commit.  B is killed with SIGKILL after a random delay spread
# over a clean sync's duration.  After each kill: B's store opens and
# `stoa verify` finds nothing wrong, and every record B acknowledged is in
# it.  Every tenth kill, and at the end, B is restarted on what it has and
# must converge with A.
#
# Part 2.  B runs with tests/faultfs.c preloaded: while $T/disk.bad exists,
# every write, sync or commit (one class at a time) on its store fails.
# B must not acknowledge the records it could not commit, must say why in
# its log, and must take records again once the disk is back.
. "$(dirname "$0")/lib.sh"

KILLS=${KILLS:-45}
NREC=${NREC:-4000}
{ [ -n "${SENDER:-}" ] && [ -x "$SENDER" ]; } || fail "SENDER must name test_durability (got '${SENDER:-}')"
[ -n "${FAULTFS:-}" ] && [ -f "$FAULTFS" ] || fail "FAULTFS must name faultfs.so (got '${FAULTFS:-}')"

step "A founds, B joins, is admitted and learns A's trust records"
found A "Crash Federation"
join B "$T/A.charter"
admit A B
ok --home "$T/A" --quiet export -o "$T/trust.bdl"
ok --home "$T/B" import "$T/trust.bdl"
set_peers B A

step "A adds $NREC organisations"
python3 - "$NREC" >"$T/bulk.jsonl" <<'EOF'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"kind": "org", "name": "Crash organisation %d" % i, "country": "SN", "type": "ngo"}))
EOF
ok --home "$T/A" --quiet add --from-json "$T/bulk.jsonl"
ok --home "$T/A" --quiet export -o "$T/all.bdl"
set_of A "$T/setA"
TOTAL=$(wc -l <"$T/setA")
cp -a "$T/B" "$T/B.pristine"
node_start A

# send_to_b OUTFILE BUNDLE [PER WINDOW WAIT_MS]: the sender helper, in the
# background (its pid in SPID), acting as A's node.
send_to_b() {
  "$SENDER" sender "$T/A" "$(addr B)" "$2" "${3:-200}" "${4:-8}" "${5:-30000}" >"$1" 2>>"$T/sender.log" &
  SPID=$!
}

# expect_acked_held FILE: every record the sender saw acknowledged is in B.
expect_acked_held() {
  set_of B "$T/setB"
  sed -n 's/^acked //p' "$1" | sort -u >"$T/acked"
  local lost
  lost=$(comm -23 "$T/acked" "$T/setB" | wc -l)
  [ "$lost" -eq 0 ] || fail "$lost record(s) B acknowledged are not in its store"
}

step "a clean sync of an empty B, timed"
node_start B
t0=$(date +%s%N)
send_to_b "$T/clean.out" "$T/all.bdl"
wait "$SPID" || fail "the sender failed ($(tail -3 "$T/sender.log"))"
t1=$(date +%s%N)
CLEAN_MS=$(((t1 - t0) / 1000000))
grep -q '^done ' "$T/clean.out" || fail "the sender did not finish: $(tail -3 "$T/clean.out")"
wait_converged A B
expect_acked_held "$T/clean.out"
echo "    clean sync of $TOTAL records: ${CLEAN_MS} ms; the sender saw $(wc -l <"$T/acked") acknowledged"
node_stop B

KILLED=0 ACKED_TOTAL=0 PARTIAL=0
for i in $(seq 1 "$KILLS"); do
  step "kill $i of $KILLS"
  rm -rf "$T/B"
  cp -a "$T/B.pristine" "$T/B"
  node_start B
  send_to_b "$T/kill.out" "$T/all.bdl"
  delay=$(((RANDOM * 32768 + RANDOM) % (CLEAN_MS + 1)))
  sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
  node_kill B
  wait "$SPID"
  KILLED=$((KILLED + 1))
  check_log B
  ok --home "$T/B" verify
  expect_out_contains " 0 problem(s)"
  expect_acked_held "$T/kill.out"
  n=$(wc -l <"$T/acked")
  held=$(comm -12 "$T/setA" "$T/setB" | wc -l)
  ACKED_TOTAL=$((ACKED_TOTAL + n))
  [ "$held" -lt "$TOTAL" ] && PARTIAL=$((PARTIAL + 1))
  echo "    killed after ${delay} ms: B held $held of $TOTAL records, $n acknowledged to the sender"
  if [ $((i % 10)) -eq 0 ] || [ "$i" -eq "$KILLS" ]; then
    node_start B
    wait_converged A B
    ok --home "$T/B" verify
    expect_out_contains " 0 problem(s)"
    node_stop B
  fi
done
echo "    $KILLED kills of stoad ($PARTIAL in the middle of the sync); $ACKED_TOTAL acknowledged records checked"
[ "$PARTIAL" -gt 0 ] || [ "$KILLS" -eq 0 ] || fail "no kill landed in the middle of a sync"

# ---- part 2: a failing disk ----------------------------------------------------------

# node_start_faulty NAME OPS: NAME's daemon with the shim: while
# $T/disk.bad exists, every operation of the classes OPS fails with ENOSPC.
node_start_faulty() {
  local n=$1
  echo "==== start (faultfs $2) $(date +%T.%N)" >>"$T/$n.log"
  env LD_PRELOAD="$FAULTFS" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
    FAULTFS_OPS="$2" FAULTFS_NTH=1 FAULTFS_MODE=forever FAULTFS_ERRNO=ENOSPC \
    FAULTFS_SWITCH="$T/disk.bad" FAULTFS_COUNT="$T/$n.faultfs" \
    "$STOAD" --home "$T/$n" --listen "$(addr "$n")" 2>>"$T/$n.log" </dev/null &
  PID[$n]=$!
  wait_until "the daemon of $n to answer" daemon_up "$n"
}

# Slices of 50 of A's organisations, one per class of failure (B is fed by
# the sender alone here: its stoa.ini names no peer).
bundle records "$T/all.bdl" >"$T/all.hashes"
slice() { # slice K OUT: records 50K..50K+49 of all.bdl (in hash order)
  sed -n "$(($1 * 50 + 1)),$(($1 * 50 + 50))p" "$T/all.hashes" >"$T/keep"
  grep -vxF -f "$T/keep" "$T/all.hashes" >"$T/drop"
  bundle drop "$T/all.bdl" "$2" "$T/drop"
}

k=0
for ops in write fsync commit; do
  k=$((k + 1))
  step "B's disk fails ($ops): no acknowledgement for what it could not commit"
  rm -rf "$T/B" "$T/disk.bad"
  cp -a "$T/B.pristine" "$T/B"
  sed -i '/^\[peers\]/,$d' "$T/B/stoa.ini"
  slice "$k" "$T/slice.bdl"
  node_start_faulty B "$ops"
  touch "$T/disk.bad"
  send_to_b "$T/bad.out" "$T/slice.bdl" 50 1 4000
  wait "$SPID" || fail "the sender failed ($(tail -3 "$T/sender.log"))"
  grep -q '^noack 1$' "$T/bad.out" || fail "B acknowledged records its disk refused: $(head -3 "$T/bad.out")"
  ! grep -q '^acked ' "$T/bad.out" || fail "B acknowledged records its disk refused"
  grep -q 'failed: No space left on device' "$T/B.log" || fail "B's log does not say why the commit failed"
  daemon_up B || fail "B stopped answering on a failing disk"
  echo "    $(cat "$T/B.faultfs")"

  step "B's disk is back ($ops): it takes the records again"
  rm -f "$T/disk.bad"
  send_to_b "$T/good.out" "$T/slice.bdl" 50 1 20000
  wait "$SPID" || fail "the sender failed ($(tail -3 "$T/sender.log"))"
  [ "$(grep -c '^acked ' "$T/good.out")" -eq 50 ] ||
    fail "B did not take the records once its disk was back: $(grep -v '^acked' "$T/good.out" | head -3)"
  expect_acked_held "$T/good.out"
  node_stop B
  ok --home "$T/B" verify
  expect_out_contains " 0 problem(s)"
done

stop_all
echo "PASS $TEST_NAME"
