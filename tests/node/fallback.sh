#!/usr/bin/env bash
# fallback.sh - a difference too large for the coded symbols a node accepts.
# Both nodes are set to give up after 16 symbols ([node] sync_max_symbols);
# a holds 400 entries b lacks and b 300 that a lacks.  The decoder gives up,
# both sides fall back to offering every hash (docs/protocol.md §3), each
# asks for what it lacks, and they converge with no record received twice.
# The connection negotiated zstd: records went compressed.  Then c, new
# and empty, dials a: it lists its few records instead of sending symbols
# (docs/protocol.md, "Listing instead of symbols") and gets the rest.
# Last, e, whose decoders may hold only 16 symbols in all ([limits]
# max_sync_symbols), is dialed by a: it gives up too, and converges.
. "$(dirname "$0")/lib.sh"

step "two members of one federation"
found a "Fallback Federation"
join b "$T/a.charter"
admit a b
ok --home "$T/a" export -o "$T/trust.bundle"
ok --home "$T/b" import "$T/trust.bundle"
for n in a b; do printf '\n[node]\nsync_max_symbols = 16\n' >>"$T/$n/stoa.ini"; done
set_peers b a

step "a writes 400 entries, b 300"
jsonl() { # NAME COUNT: JSON Lines of organisations
  python3 -c '
import sys
n, k = sys.argv[1], int(sys.argv[2])
for i in range(k):
    print("{\"name\": \"%s organisation %d for civic education\", \"country\": \"GR\", \"type\": \"ngo\", \"themes\": [\"labour-rights\"], \"description\": \"Runs evening classes on %s civic rights in district %d, with volunteers and a small library.\"}" % (n, i, n, i))' "$1" "$2"
}
jsonl a 400 >"$T/a.jsonl"
jsonl b 300 >"$T/b.jsonl"
ok --home "$T/a" add org --from-json "$T/a.jsonl"
ok --home "$T/b" add org --from-json "$T/b.jsonl"

step "start both; b dials a"
node_start a
node_start b
wait_converged a b

step "the decoder gave up and both sides offered every hash"
grep -q "difference too large to decode" "$T/a.log" "$T/b.log" || fail "no node logged giving up"
grep -q "offered every record we hold" "$T/a.log" || fail "a did not offer its records"
grep -q "offered every record we hold" "$T/b.log" || fail "b did not offer its records"

step "nothing was received twice, and records went compressed"
for n in a b; do
  expect_eq "records $n received that it held" "$(status_of "$n" "sum(p['rx_dup'] for p in d['peers'])")" 0
done
raw=$(status_of a "sum(p['zip_raw'] for p in d['peers'])")
out=$(status_of a "sum(p['zip_out'] for p in d['peers'])")
[ "$out" -gt 0 ] && [ "$raw" -gt "$out" ] || fail "a's records were not compressed (raw $raw, out $out)"
echo "    a sent $raw bytes of records as $out bytes ($(python3 -c "print(round($raw/$out, 2))"):1)"

step "the control socket serves requests sent back to back, also behind a sync"
# A raw client: "sync" then "status" in one write, then two "status" in
# one write.  Each must get its own reply, in order (no byte dropped).
python3 - "$T/b/stoad.sock" <<'PY' || fail "pipelined control requests"
import socket, struct, sys
def req(cmd):  # {"cmd": cmd} in msgpack, framed
    body = b"\x81\xa3cmd" + bytes([0xa0 | len(cmd)]) + cmd.encode()
    return struct.pack(">I", len(body)) + body
s = socket.socket(socket.AF_UNIX)
s.settimeout(60)
s.connect(sys.argv[1])
def reply():
    hdr = b""
    while len(hdr) < 4:
        hdr += s.recv(4 - len(hdr))
    n = struct.unpack(">I", hdr)[0]
    body = b""
    while len(body) < n:
        body += s.recv(n - len(body))
    return body
s.sendall(req("sync") + req("status"))
r1, r2 = reply(), reply()
assert b"syncs" in r1, r1[:80]
assert b"federation" in r2, r2[:80]
s.sendall(req("status") + req("peers"))
r3, r4 = reply(), reply()
assert b"federation" in r3 and b"federation" not in r4 and b"peers" in r4, (r3[:60], r4[:60])
print("    four replies, in order")
PY

step "c, new and empty, lists its records instead of sending symbols"
join c "$T/a.charter"
admit a c
ok --home "$T/c" import "$T/trust.bundle"
set_peers c a
node_start c
wait_converged a b c
grep -q "sets differ (a list of" "$T/a.log" || fail "a did not receive c's list"
expect_eq "records c received that it held" "$(status_of c "sum(p['rx_dup'] for p in d['peers'])")" 0

step "two more syncs with nothing to offer (a's offer list, once given, is dropped cleanly)"
ok --home "$T/c" sync
ok --home "$T/c" sync
daemon_up a || fail "a died"

step "e, holding 500 entries of its own, may decode only 16 symbols in all; a dials it"
# [limits] max_sync_symbols bounds what all of e's decoders hold together
# (a hostile peer could otherwise make each connection's decoder grow to
# [node] sync_max_symbols).  e's decoder gives up there, as a's did at its
# own limit, and the fallback brings both sides everything.
join e "$T/a.charter"
admit a e
ok --home "$T/e" import "$T/trust.bundle"
printf '\n[limits]\nmax_sync_symbols = 16\n' >>"$T/e/stoa.ini"
jsonl e 500 >"$T/e.jsonl"
ok --home "$T/e" add org --from-json "$T/e.jsonl"
node_start e
ok --home "$T/a" peer add "$(addr e)"
wait_converged a b c e
grep -q "difference too large to decode (the node's decoders hold \[limits\] max_sync_symbols)" "$T/e.log" ||
  fail "e did not give up at the limit of all its decoders"
expect_eq "records e received that it held" "$(status_of e "sum(p['rx_dup'] for p in d['peers'])")" 0
for n in a e; do # every session over: the count of symbols held is back to 0
  expect_eq "symbols $n's decoders hold" "$(status_of "$n" 'd["decoding_symbols"]')" 0
done

step "verify, and stop cleanly"
for n in a b c e; do ok --home "$T/$n" verify; done
stop_all
echo "PASS $TEST_NAME"
