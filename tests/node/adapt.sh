#!/usr/bin/env bash
# adapt.sh - compression follows the bottleneck (docs/protocol.md §3,
# Compression).  A holds 8,000 records; B (same federation, empty) dials it
# on loopback with its verifying threads held to one core, so that B, not
# the link, sets the pace.  A's first records go compressed (B has reported
# nothing yet); once B's ACKs report a backlog of at least 1 MiB, A sends
# the rest plain.  C then fetches the same records through a slow link
# (tests/linkproxy, ADAPT_SLOW_RATE bytes/s, 256 KB/s by default; far
# slower than C, which under the sanitizers takes some MB/s): there C waits
# for data, and every record goes compressed.  Both converge exactly, with
# nothing received twice.  (scripts/valgrind sets a slower link: under
# valgrind C itself takes less than 256 KB/s, and would rightly be sent
# records plain.)
. "$(dirname "$0")/lib.sh"

NREC=8000
SLOW=${ADAPT_SLOW_RATE:-262144}

step "A founds; B and C join and are admitted"
found A "Adapt Federation"
join B "$T/A.charter"
join C "$T/A.charter"
admit A B
admit A C
set_peers B A

step "A adds $NREC organisations"
python3 - "$NREC" >bulk.jsonl <<'EOF'
import json, random, sys
rnd = random.Random(7)
words = ("cooperative training rights housing water clinic legal aid youth women farmers "
         "migrants literacy radio archive network union teachers health workers").split()
for i in range(int(sys.argv[1])):
    d = " ".join(rnd.choice(words) for _ in range(90))
    print(json.dumps({"kind": "org", "name": "Adapt organisation %d" % i, "country": "KE",
                      "type": "ngo", "description": d}))
EOF
ok --home "$T/A" --quiet add --from-json bulk.jsonl

step "A starts; B, on one core, dials it directly"
node_start A -v
# One core for B's process: signatures are checked in B's thread pool, so
# B processes records more slowly than A sends them over loopback.
echo "==== start $(date +%T.%N)" >>"$T/B.log"
taskset -c 0 "$STOAD" --home "$T/B" --listen "$(addr B)" 2>>"$T/B.log" </dev/null &
PID[B]=$!
wait_until "the daemon of B to answer" daemon_up B
wait_converged A B
ok --home "$T/B" verify

step "A compressed its first records, then sent plain while B had a backlog"
plain=$(status_of A "sum(p['zip_plain'] for p in d['peers'])")
out=$(status_of A "sum(p['zip_out'] for p in d['peers'])")
raw=$(status_of A "sum(p['zip_raw'] for p in d['peers'])")
echo "    to B: $raw bytes of records compressed to $out, $plain bytes sent plain"
[ "$out" -gt 0 ] || fail "A compressed nothing (its first records go before B reports)"
[ "$plain" -gt 0 ] || fail "A sent nothing plain, though B was the bottleneck"
grep -q "records go plain (the peer holds [0-9]* bytes uncommitted)" "$T/A.log" ||
  fail "A did not log the switch to plain"
expect_eq "records B received that it held" "$(status_of B "sum(p['rx_dup'] for p in d['peers'])")" 0

step "C fetches the same records through a link of $SLOW B/s: all compressed"
proxy_start P A --rate "$SLOW"
node_start C
ok --home "$T/C" peer add "$(addr P)"
wait_converged A C
ok --home "$T/C" --json status
expect_eq "C's peers" "$(json 'len(d["peers"])')" 1
# A's side of that connection: the peer whose node key is C's.
c_node=$(status_of C 'd["node"]')
plain=$(status_of A "sum(p['zip_plain'] for p in d['peers'] if p['node'] == '$c_node'[:16] or p['node'] == '$c_node')")
out=$(status_of A "sum(p['zip_out'] for p in d['peers'] if p['node'] == '$c_node'[:16] or p['node'] == '$c_node')")
echo "    to C: compressed to $out bytes, $plain bytes sent plain"
[ "$out" -gt 0 ] || fail "A sent C nothing compressed"
expect_eq "bytes A sent C plain over the slow link" "$plain" 0
expect_eq "records C received that it held" "$(status_of C "sum(p['rx_dup'] for p in d['peers'])")" 0

step "SIGTERM: daemons and proxy exit 0"
node_stop C
proxy_stop P
node_stop B
node_stop A
check_all_logs
echo "PASS $TEST_NAME"
