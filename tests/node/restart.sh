#!/usr/bin/env bash
# restart.sh - an interrupted sync loses no work.  A holds ~3000 records; B
# (same federation, empty) dials A and is killed with SIGKILL in the middle
# of the transfer.  Its store is intact (`verify`), and when it comes back
# A sends only what B still lacks: committed batches are not sent again.
# Then SIGTERM: both daemons exit 0 and remove their control sockets.
. "$(dirname "$0")/lib.sh"

NREC=3000

step "A founds, B joins and is admitted; B dials A"
found A "Restart Federation"
join B "$T/A.charter"
admit A B
set_peers B A

step "A adds $NREC organisations from JSON Lines"
# Descriptions of ~7.9 KB make the transfer span several commits on B, so
# that there is a middle to kill it in.  Their words come from a small
# vocabulary, which keeps each entry's search tokens small.
python3 - "$NREC" >bulk.jsonl <<'EOF'
import json, random, sys
rnd = random.Random(20091104)
syl = ["ka", "lo", "mi", "ra", "tu", "ne", "so", "vi", "de", "pa", "zu", "gor"]
vocab = ["".join(rnd.choice(syl) for _ in range(3)) for _ in range(150)]
for i in range(int(sys.argv[1])):
    words = " ".join(rnd.choice(vocab) for _ in range(1200))
    print(json.dumps({"kind": "org", "name": "Bulk organisation %d" % i, "country": "FR",
                      "type": "ngo", "description": words[:7900]}))
EOF
ok --home "$T/A" --quiet add --from-json bulk.jsonl
ok --home "$T/A" --json ls --limit 1000000
expect_eq "entries on A" "$(json 'len(d)')" "$NREC"
cp -a "$T/B" "$T/B.pristine"

step "start A"
node_start A
TOTAL=$(status_of A 'd["records"]')
[ "$TOTAL" -ge "$NREC" ] || fail "A holds $TOTAL records, fewer than $NREC"

# b_records: B's record count, as its daemon reports it (0 when it does
# not answer).
b_records() { status_of B 'd["records"]' 2>/dev/null || echo 0; }
# b_midway: B holds some of A's records, not all.
b_midway() {
  local r
  r=$(b_records)
  [ -n "$r" ] && [ "$r" -ge $((TOTAL / 10)) ] && [ "$r" -lt "$TOTAL" ]
}

step "start B and kill it with SIGKILL in the middle of the sync"
# The kill must land while records are still missing on B.  If the whole
# transfer slipped between two polls, B starts again from its pristine home
# (a few tries; a machine that fast makes the test retry, not pass).
MISSING=0
for try in 1 2 3 4 5; do
  node_start B
  wait_until "B to hold some, not all, of A's records" b_midway
  node_kill B
  set_of A "$T/setA"
  set_of B "$T/setB"
  MISSING=$(comm -23 "$T/setA" "$T/setB" | wc -l)
  COMMITTED=$(comm -12 "$T/setA" "$T/setB" | wc -l)
  echo "    try $try: killed B holding $COMMITTED of A's $(wc -l <"$T/setA") records ($MISSING missing)"
  [ "$MISSING" -gt 0 ] && break
  rm -rf "$T/B"
  cp -a "$T/B.pristine" "$T/B"
done
[ "$MISSING" -gt 0 ] || fail "B never stopped in the middle of the sync in 5 tries"
[ "$COMMITTED" -gt 0 ] || fail "B was killed before it committed anything"

step "after SIGKILL, B's store is intact"
ok --home "$T/B" verify
[ -e "$T/B/stoad.sock" ] && echo "    (B's stale control socket is left, as after any crash)"

step "restart B: it gets the rest"
A_TOTAL=$(wc -l <"$T/setA")
node_start B
wait_converged A B
ok --home "$T/B" verify
ok --home "$T/A" verify

step "A did not send again what B had committed"
ok --home "$T/A" --json status
expect_eq "A's connected peers" "$(json 'sum(p["state"] == "connected" for p in d["peers"])')" 1
TX2=$(json '[p["tx_records"] for p in d["peers"] if p["state"] == "connected"][0]')
ok --home "$T/B" --json status
RX2=$(json '[p["rx_new"] for p in d["peers"] if p["addr"] == "'"$(addr A)"'"][0]')
echo "    A sent $TX2 records on the new connection; B lacked $MISSING of A's $A_TOTAL and took $RX2 new ones"
# The assertion asked for: tx_records on the second connection
#   <= total - committed_before_restart + 4096
# (4096 = NODE_BATCH, the records of one batch in flight).  With ~3000
# records that bound alone cannot fail, so it is followed by the exact one
# the protocol promises: reconciliation finds precisely the records B
# lacks, and A sends each once, so
#   tx_records on the second connection == |A's records \ B's at restart|.
[ "$TX2" -le $((A_TOTAL - COMMITTED + 4096)) ] ||
  fail "A sent $TX2 records, more than total $A_TOTAL - committed $COMMITTED + 4096"
[ "$TX2" -le "$MISSING" ] ||
  fail "A sent $TX2 records on the new connection, but B lacked only $MISSING: committed records were sent again"
[ "$TX2" -ge "$MISSING" ] || fail "A sent $TX2 records, fewer than the $MISSING B lacked"
expect_eq "records new to B on the new connection" "$RX2" "$MISSING"
# For the record, not checked: coded symbols A's decoder needed for each of
# the two syncs.  A sends records in the order its decoder found them, so B
# holds the easiest to peel and the second sync costs about as many symbols
# as the first (reported; shuffling the records to send fixes it).
grep -o 'sync [0-9]*: sets differ ([0-9]* symbols; sending [0-9]*' "$T/A.log" | sed 's/^/    A: /'

step "SIGTERM: both daemons exit 0 and remove their control sockets"
node_stop B
node_stop A
s --home "$T/A" status
expect_rc 9
check_all_logs
echo "PASS $TEST_NAME"
