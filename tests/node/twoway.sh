#!/usr/bin/env bash
# twoway.sh - both directions of a slow link full at once.  A and B each
# hold TWOWAY_N organisations the other lacks; B dials A through
# tests/linkproxy at TWOWAY_RATE bytes/s each way (16,000 by default) and
# 200 ms one way.  Each side's records, its asks and its acknowledgements
# share the connection both ways.  Both must end with the same records,
# none received twice, `stoa verify` clean.  The time is reported against
# what A's bundle needs at that rate (a figure, not a test).
. "$(dirname "$0")/lib.sh"

N=${TWOWAY_N:-1500}
RATE=${TWOWAY_RATE:-16000}

step "A founds, B joins and is admitted; each adds $N organisations"
found A "Two Way Federation"
join B "$T/A.charter"
admit A B
ok --home "$T/A" --quiet export -o "$T/trust.bdl"
ok --home "$T/B" --quiet import "$T/trust.bdl" # B's own records are valid at once
for n in A B; do
  python3 - "$N" "$n" >"$T/$n.jsonl" <<'EOF'
import json, sys
words = "cooperative training rights housing water clinic legal aid youth women farmers".split()
for i in range(int(sys.argv[1])):
    print(json.dumps({"kind": "org", "name": "Two way %s organisation %d" % (sys.argv[2], i),
                      "country": "GH", "type": "ngo",
                      "description": " ".join(words[(i + k) % len(words)] for k in range(40))}))
EOF
  ok --home "$T/$n" --quiet add --from-json "$T/$n.jsonl"
done
set_of A "$T/setA"
set_of B "$T/setB"
ALL=$(sort -u "$T/setA" "$T/setB" | wc -l)
ok --home "$T/A" --quiet export -o "$T/A.bdl"
BYTES=$(stat -c %s "$T/A.bdl")
echo "    A holds $(wc -l <"$T/setA") records, B $(wc -l <"$T/setB"); $ALL in all; A's bundle $BYTES bytes"

step "B dials A through $RATE B/s each way, 200 ms one way; both directions at once"
node_start A
proxy_start P A --rate "$RATE" --delay 200
set_peers B P
T0=$SECONDS
node_start B
converged() { [ "$(status_of A 'd["records"]')" = "$ALL" ] && [ "$(status_of B 'd["records"]')" = "$ALL" ]; }
wait_until "A and B to hold all $ALL records" converged
TOOK=$((SECONDS - T0))
wait_converged A B
echo "    $TOOK s; A's records alone (compressed about 2:1 or not) need $(python3 -c "print(round($BYTES / $RATE))") s one way at $RATE B/s"
for n in A B; do
  expect_eq "records $n received that it held" "$(status_of "$n" "sum(p['rx_dup'] for p in d['peers'])")" 0
  ok --home "$T/$n" verify
done

step "SIGTERM: daemons and proxy exit 0"
proxy_stop P
stop_all
echo "PASS $TEST_NAME"
