#!/usr/bin/env bash
# stall.sh - a link that freezes for a minute, a peer that dies silently,
# and the order records come in on a slow link (issue 4).
#  1. a holds 600 entries written in three rounds, a second apart; b pulls
#     them through a linkproxy at 3,000 B/s with 400 ms each way.  While
#     the transfer runs, b holds only entries of the newest round (trust
#     records first, then newest first), and `stoa status` shows what is
#     still to come and an estimate of the time.
#  2. The proxy is frozen (SIGSTOP) for 60 s: nothing crosses either way.
#     The connection survives it (no reconnection) and the sync completes.
#  3. a is frozen (SIGSTOP: its kernel still holds the connection open):
#     b notices the dead peer by itself and closes the connection.
NODE_WAIT_MAX=${NODE_WAIT_MAX:-180} # the dead-peer wait takes 90 s or more
. "$(dirname "$0")/lib.sh"

step "a founds, b joins and is admitted"
found a "Stall Federation"
join b "$T/a.charter"
admit a b
ok --home "$T/a" export -o "$T/trust.bundle"
ok --home "$T/b" import "$T/trust.bundle"

step "a writes three rounds of 200 entries, a second apart"
for round in 1 2 3; do
  python3 - "$round" >"$T/r$round.jsonl" <<'PY'
import json, sys
r = sys.argv[1]
for i in range(200):
    print(json.dumps({"kind": "org", "name": "Round%s organisation %d" % (r, i), "country": "GH", "type": "ngo",
                      "theme": ["remittances"], "description": "Helps families send and receive money at fair fees."}))
PY
  ok --home "$T/a" --quiet add --from-json "$T/r$round.jsonl"
  sleep 1.1
done
node_start a
proxy_start p a --rate 3000 --delay 400
set_peers b p
node_start b

# rounds_of NAME: how many of NAME's entries belong to each round, "r1 r2 r3".
rounds_of() {
  "$STOA" --home "$T/$1" export --format jsonl | python3 -c '
import json, sys
c = {"1": 0, "2": 0, "3": 0}
for l in sys.stdin:
    n = json.loads(l).get("name", "")
    if n.startswith("Round"): c[n[5]] += 1
print(c["1"], c["2"], c["3"])'
}
some_entries() { set -- $(rounds_of b); [ $(($1 + $2 + $3)) -ge 40 ]; }

step "newest first: the first entries b holds are all of the newest round"
wait_until "b to hold 40 entries" some_entries
set -- $(rounds_of b)
echo "    b holds $1 / $2 / $3 entries of rounds 1 / 2 / 3"
[ "$1" -eq 0 ] && [ "$2" -eq 0 ] || fail "b got older entries before the newest ($1 / $2 / $3)"
come=$(status_of b "sum(p['to_come'] for p in d['peers'])")
eta=$(status_of b "max(p['eta_s'] for p in d['peers'])")
echo "    b's status: $come records to come, about $eta s left"
[ "$come" -gt 0 ] || fail "b's status shows nothing to come while records are coming"

step "the link freezes for 60 s; the connection survives it"
kill -STOP "${PID[p]}"
sleep 60
kill -CONT "${PID[p]}"
wait_converged a b
expect_eq "connections through the proxy" "$(proxy_stat p connections)" 1
expect_eq "records b received that it held" "$(status_of b "sum(p['rx_dup'] for p in d['peers'])")" 0

step "a freezes: b notices the dead peer by itself"
kill -STOP "${PID[a]}"
dead_seen() { grep -q "presumed dead" "$T/b.log"; }
t0=$SECONDS
wait_until "b to give a up as dead" dead_seen
echo "    b closed the connection $((SECONDS - t0)) s after a froze"
kill -CONT "${PID[a]}"

step "verify, and stop cleanly"
for n in a b; do ok --home "$T/$n" verify; done
stop_all
echo "PASS $TEST_NAME"
