#!/usr/bin/env bash
# hub.sh - one hub and HUB_NODES (default 20) national nodes of one
# federation, each a real stoad on loopback.  The nationals know only the
# hub in their configuration; everything else they learn from the signed
# peer records every node publishes ([node] announce).  Checks:
#   - every node converges on every record, and an entry added on a
#     national, then one added on the hub, reaches every node;
#   - every address book fills with the others' addresses (not its own),
#     nationals dial some of them, and no node opens more outgoing
#     connections than [node] max_outgoing; the hub stays configured;
#   - a node told to dial itself notices and stops.
# Reports (never asserts) the time to convergence, and per node the bytes
# sent and received against the optimum: each record a node lacked
# received once, and each record crossing each of its links once.
. "$(dirname "$0")/lib.sh"

N=${HUB_NODES:-20}
MAXOUT=4                         # nationals: the hub and three from the book
MID=n$(((N + 1) / 2))           # the national that writes
NAT=()
for i in $(seq "$N"); do NAT+=("n$i"); done
ALL=(hub "${NAT[@]}")

now() { date +%s.%N; }
since() { python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$(now)"; }

# ---- observing every node -------------------------------------------------------
# One Python process runs a `stoa --json` command on every home, two at a
# time (the machine's cores), and prints what the test needs: much cheaper
# than a shell pipeline per node per poll under the sanitizers.
ALL_PY='
import json, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
stoa, T, what = sys.argv[1], sys.argv[2], sys.argv[3]
names = sys.argv[4:]
cmd = {"status": ["status"], "whoami": ["whoami"], "verify": ["verify"],
       "records": ["status"], "outgoing": ["status"]}[what]
def one(n):
    r = subprocess.run([stoa, "--home", T + "/" + n, "--json"] + cmd, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit("%s on %s failed: %s" % (what, n, r.stderr.strip()))
    return n, json.loads(r.stdout)
with ThreadPoolExecutor(2) as ex:
    out = dict(ex.map(one, names))
if what == "records":
    print(" ".join(str(out[n]["records"]) for n in names))
elif what == "outgoing":   # per node: outgoing slots, those connected, their addresses
    for n in names:
        o = [p for p in out[n]["peers"] if p["direction"] == "out"]
        print(n, len(o), sum(p["state"] == "connected" for p in o), " ".join(p["addr"] for p in o))
else:
    json.dump(out, sys.stdout)
'
on_all() { python3 -c "$ALL_PY" "$STOA" "$T" "$@"; }

# out_peers NAME: its outgoing slots as "addr state" lines.
out_peers() {
  status_of "$1" "'\n'.join(p['addr'] + ' ' + p['state'] for p in d['peers'] if p['direction'] == 'out')"
}

# all_have COUNT: every node holds COUNT records.
all_have() {
  local c
  for c in $(on_all records "${ALL[@]}"); do [ "$c" -eq "$1" ] || return 1; done
}

# books_filled: every node's saved address book lists N addresses.
books_filled() {
  local n
  for n in "${ALL[@]}"; do
    [ "$(grep -vc '^#' "$T/$n/peers.book" 2>/dev/null)" -ge "$N" ] || return 1
  done
}

# meshed: every national has the hub and at least one peer it learned
# connected.
meshed() {
  on_all outgoing "${NAT[@]}" >"$T/.outgoing" || return 1
  awk '$3 < 2 { bad = 1 } END { exit bad }' "$T/.outgoing"
}

# check_outgoing: no node has more outgoing slots than its max_outgoing
# (4 for the nationals, 16 for the hub), and every national still has its
# configured hub among them.
check_outgoing() {
  local n k slots
  on_all outgoing "${ALL[@]}" >"$T/.outgoing" || fail "status"
  while read -r n k _ slots; do
    if [ "$n" = hub ]; then
      [ "$k" -le 16 ] || fail "the hub has $k outgoing peers, more than 16"
      continue
    fi
    [ "$k" -le "$MAXOUT" ] || fail "$n has $k outgoing peers, more than max_outgoing = $MAXOUT"
    [[ " $slots " == *" $(addr hub) "* ]] || fail "$n dropped its configured hub"
  done <"$T/.outgoing"
}

# same_records: every node holds exactly the same record hashes (full
# exports compared, two at a time).
SAME_PY='
import hashlib, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
stoa, T = sys.argv[1], sys.argv[2]
def hashes(n):
    f = "%s/.same.%s.bdl" % (T, n)
    subprocess.run([stoa, "--home", T + "/" + n, "--quiet", "export", "-o", f], check=True)
    b = open(f, "rb").read()
    out, p, first = set(), 8, True
    while p + 4 <= len(b):
        k = int.from_bytes(b[p:p + 4], "big"); pl = b[p + 4:p + 4 + k]; p += 4 + k
        if not first and pl[:5] != b"\x93\xa3end":
            out.add(hashlib.blake2b(pl, digest_size=32).hexdigest())
        first = False
    return n, out
with ThreadPoolExecutor(2) as ex:
    sets = dict(ex.map(hashes, sys.argv[3:]))
ref = sets[sys.argv[3]]
bad = [n for n in sets if sets[n] != ref]
if bad:
    raise SystemExit("differ from %s: %s" % (sys.argv[3], " ".join(bad)))
print("    same %d records on all %d nodes" % (len(ref), len(sets)))
'
same_records() { python3 -c "$SAME_PY" "$STOA" "$T" "${ALL[@]}"; }

T0=$(now)
step "homes: the hub founds the federation, $N national networks join and are admitted"
found hub "Hub Federation"
for n in "${NAT[@]}"; do
  NODES+=("$n")
  new_port "$n"
done
# The nationals' homes are independent: made two at a time.
for n in "${NAT[@]}"; do echo "$n"; done |
  xargs -P 2 -I{} sh -c '"$0" --home "$1/{}" --json init --network "Network {}" --charter "$1/hub.charter" --no-passphrase >"$1/{}.init" 2>&1' "$STOA" "$T" ||
  fail "init of a national failed: $(cat "$T"/n*.init | grep -v '^{' | head -5)"
on_all whoami "${ALL[@]}" >"$T/whoami.json" || fail "whoami"
declare -A NODEKEY=() NETKEY=()
while read -r n nk k; do NODEKEY[$n]=$nk; NETKEY[$n]=$k; done < <(python3 -c '
import json, sys
for n, d in json.load(open(sys.argv[1])).items(): print(n, d["node_key"], d["network_key"])' "$T/whoami.json")
for n in "${NAT[@]}"; do ok --home "$T/hub" federation admit "${NETKEY[$n]}"; done
# Every node is on 127.0.0.1: the per-address limit on connections goes.
cat >>"$T/hub/stoa.ini" <<INI

[node]
hub = true
announce = $(addr hub)

[limits]
max_connections_per_ip = 256
INI
for n in "${NAT[@]}"; do
  cat >>"$T/$n/stoa.ini" <<INI

[node]
announce = $(addr "$n")
max_outgoing = $MAXOUT

[limits]
max_connections_per_ip = 256
INI
  set_peers "$n" hub
done
# What the homes hold before they meet: accepted records (the hub's) and
# pending ones (a national's own records wait for its admission, which
# only the hub holds).  Each node signs its peer record at start: one more
# per node.
EXPECT=$(on_all verify "${ALL[@]}" | python3 -c '
import json, sys
print(sum(d["records"] + d["pending"] for d in json.load(sys.stdin).values()))') || fail "verify"
EXPECT=$((EXPECT + N + 1))
echo "    $((N + 1)) homes in $(since "$T0") s; $EXPECT records expected everywhere with the peer records"

step "start the hub and the $N nationals; wait for every record everywhere"
T1=$(now)
node_start hub
for n in "${NAT[@]}"; do node_start "$n"; done
echo "    $((N + 1)) daemons answering after $(since "$T1") s"
wait_until "every node to hold $EXPECT records" all_have "$EXPECT"
CONV=$(since "$T1")
echo "    converged: $((N + 1)) nodes hold $EXPECT records, $CONV s after the first start"

step "the address books fill from the peer records; outgoing connections stay bounded"
wait_until "every national to reach a peer it learned" meshed
echo "    nationals meshed $(since "$T1") s after the first start; connected outgoing per national: $(awk '{printf "%s ", $3}' "$T/.outgoing")"
wait_until "every address book to list the $N other nodes" books_filled
for n in "${ALL[@]}"; do
  ! grep -q "^$(addr "$n") " "$T/$n/peers.book" || fail "$n lists its own address in its address book"
  for o in "${ALL[@]}"; do
    [ "$o" = "$n" ] || grep -q "^$(addr "$o") ${NODEKEY[$o]} " "$T/$n/peers.book" ||
      fail "$n's address book lacks $o ($(addr "$o"), node ${NODEKEY[$o]})"
  done
done
[ "$(awk -v a="$(addr hub)" '$1 == a {print $3}' "$T/n1/peers.book")" = 1 ] || fail "n1's book does not mark the hub as a hub"
# The same book as the daemon shows it (`stoa peers --book`).
ok --home "$T/n1" --json peers --book
expect_eq "addresses n1's daemon lists" "$(json 'd["total"]')" "$N"
expect_eq "the hubs among them" "$(json '[e["node"] for e in d["book"] if e["hub"]]')" "[\"${NODEKEY[hub]}\"]"
expect_eq "the addresses n1 dials, listed first" \
  "$(json 'sum(e["dialed"] for e in d["book"]) >= 2 and all(e["dialed"] for e in d["book"][:sum(x["dialed"] for x in d["book"])])')" true
ok --home "$T/n1" peers --book
grep -q "^$N addresses in the address book:" "$OUT" || fail "stoa peers --book: $(head -1 "$OUT")"
head -7 "$OUT" | sed 's/^/    /'
grep -q "^$(addr hub) .* hub" "$OUT" || fail "stoa peers --book does not show the hub as a hub"
check_outgoing

step "an entry added on a national reaches every node"
T2=$(now)
add_org "$MID" "Nationalword"
NID=$ID
wait_until "every node to hold the entry of $MID" all_have $((EXPECT + 1))
echo "    on all $((N + 1)) nodes $(since "$T2") s after \`stoa add\` on $MID"

step "an entry added on the hub reaches every node"
T3=$(now)
add_org hub "Hubword"
HID=$ID
wait_until "every node to hold the entry of the hub" all_have $((EXPECT + 2))
echo "    on all $((N + 1)) nodes $(since "$T3") s after \`stoa add\` on the hub"
same_records || fail "the nodes differ"
for n in hub n1 "n$N"; do
  expect_found "$n" nationalword "$NID"
  expect_found "$n" hubword "$HID"
done
check_outgoing

step "a node told to dial itself notices, and the others are unaffected"
ok --home "$T/n2" peer add "$(addr n2)"
self_gone() {
  local o
  o=$(out_peers n2) || return 1
  ! grep -q "^$(addr n2) " <<<"$o" && grep -q "this is ourselves" "$T/n2.log"
}
wait_until "n2 to drop the connection to itself" self_gone
grep -q "^$(addr hub) connected$" <<<"$(out_peers n2)" || fail "n2 lost its hub"

step "bytes on the wire against the optimum"
# Record sizes and owners from the hub's full export (every node holds the
# same set).  Every network here has one node, which wrote its records, so
# a node lacked exactly the records of the other networks.  Two optima:
# each node receives each record it lacked once (a spanning tree), and
# each record crosses each link once (what flooding over the links there
# are can do at best).  Links carry HELLOs, symbols and keep-alives too.
ok --home "$T/hub" --quiet export -o "$T/final.bdl"
on_all status "${ALL[@]}" >"$T/status.json" || fail "status"
for n in "${ALL[@]}"; do echo "$n ${NETKEY[$n]}"; done >"$T/nodes.txt"
cat >"$T/bytes.py" <<'PY'
import hashlib, json, sys
b = open(sys.argv[1], "rb").read()
st = json.load(open(sys.argv[2]))
assert b[:8] == b"STOABDL1"
size, owner = {}, {}
p, first = 8, True
while p + 4 <= len(b):
    n = int.from_bytes(b[p:p + 4], "big"); pl = b[p + 4:p + 4 + n]; p += 4 + n
    if first or pl[:5] == b"\x93\xa3end":
        first = False
        continue
    h = hashlib.blake2b(pl, digest_size=32).hexdigest()
    size[h] = len(pl)
    # envelope [bin8 header, ...]; header [version, kind (fixstr), owner (bin 32), ...]
    hd = pl[3:3 + pl[2]]
    q = 2 + 1 + (hd[2] & 0x1f)
    owner[h] = hd[q + 2:q + 34].hex()
total = sum(size.values())
print("    %d records, %d bytes (%.0f on average)" % (len(size), total, total / len(size)))
print("    %-4s %5s %9s %9s %9s %6s %9s %6s %6s %6s %6s" % ("node", "links", "rx bytes", "tx bytes",
      "lacked", "rx/lk", "links*all", "ratio", "rx rec", "rx new", "dup"))
S = dict(rx=0, opt=0, dup=0, rec=0, links=0)
for line in open(sys.argv[3]):
    name, net = line.split()
    lacked = sum(size[h] for h in size if owner[h] != net)
    peers = [x for x in st[name]["peers"] if x["rx_bytes"] or x["tx_bytes"]]
    rx = sum(x["rx_bytes"] for x in peers); tx = sum(x["tx_bytes"] for x in peers)
    rr = sum(x["rx_records"] for x in peers); rn = sum(x["rx_new"] for x in peers)
    links = sum(1 for x in peers if x["state"] == "connected")
    S["rx"] += rx; S["opt"] += lacked; S["dup"] += rr - rn; S["rec"] += rr; S["links"] += links
    print("    %-4s %5d %9d %9d %9d %6.2f %9d %6.2f %6d %6d %6d" % (name, links, rx, tx, lacked, rx / lacked,
          links * total, (rx + tx) / (links * total) if links else 0, rr, rn, rr - rn))
L = S["links"] // 2
print("    all nodes: received %d bytes; each node receiving what it lacked once: %d (%.2fx);"
      % (S["rx"], S["opt"], S["rx"] / S["opt"]))
print("    %d links (a spanning tree has %d); each record once per link: %d bytes (%.2fx);"
      % (L, len(st) - 1, L * total, S["rx"] / (L * total)))
print("    records received %d, of which already held %d (%.0f%%)" % (S["rec"], S["dup"], 100.0 * S["dup"] / S["rec"]))
PY
python3 "$T/bytes.py" "$T/final.bdl" "$T/status.json" "$T/nodes.txt" || fail "the byte report failed"

step "SIGHUP with a smaller address_book: n2 keeps the addresses it dials"
ok --home "$T/n2" --json peers --book
DIALED=$(json '" ".join(sorted(e["addr"] for e in d["book"] if e["dialed"]))')
expect_eq "n2's book before" "$(json 'd["total"]')" "$N"
printf '\n[node]\naddress_book = 16\n' >>"$T/n2/stoa.ini"
kill -HUP "${PID[n2]}"
book_total() { [ "$(sn n2 --json peers --book | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')" = "$1" ]; }
wait_until "n2's book to hold 16 addresses" book_total 16
ok --home "$T/n2" --json peers --book
for a in $DIALED; do
  expect_eq "$a, dialed, still in n2's book" "$(json "any(e['addr'] == '$a' for e in d['book'])")" true
done
grep -q "address book: 4 address(es) dropped to fit address_book = 16" "$T/n2.log" || fail "n2 did not log the drop"
echo "    n2 kept the $(wc -w <<<"$DIALED") addresses it dials among 16"

step "SIGHUP with a larger address_book: n2 learns the dropped addresses again from its store"
printf '\n[node]\naddress_book = 64\n' >>"$T/n2/stoa.ini"
kill -HUP "${PID[n2]}"
wait_until "n2's book to hold $N addresses again" book_total "$N"
grep -q "address book: 4 address(es) from the store's peer records" "$T/n2.log" ||
  fail "n2 did not log what it learned again"

step "a changed announce spreads as a new version of the node's peer record"
cat >>"$T/n1/stoa.ini" <<INI

[node]
announce = $(addr n1), localhost:${PORT[n1]}
INI
kill -HUP "${PID[n1]}"
wait_until "every node to hold n1's new peer record" all_have $((EXPECT + 3))

step "verify, and stop cleanly"
for n in hub n1 "n$N"; do ok --home "$T/$n" verify; done
stop_all
for n in "${ALL[@]}"; do [ -s "$T/$n/peers.book" ] || fail "$n did not save its address book"; done
grep -q "^localhost:${PORT[n1]} ${NODEKEY[n1]} " "$T/hub/peers.book" || fail "the hub did not learn n1's new address"
grep -q "^$(addr n1) ${NODEKEY[n1]} " "$T/hub/peers.book" || fail "the hub dropped n1's first address"

step "a restart rebuilds the book and keeps the history, and signs nothing new"
node_start n1
grep -q "address book: $N address(es)" "$T/n1.log" || fail "n1 did not read its saved book"
sleep 1.5   # a tick: the saved entries are checked against the store
expect_eq "n1's records after a restart" "$(status_of n1 'd["records"]')" $((EXPECT + 3))
node_stop n1
awk -v a="$(addr hub)" '$1 == a && $5 >= 1 { ok = 1 } END { exit !ok }' "$T/n1/peers.book" ||
  fail "n1 forgot that it synced with the hub"
[ "$(grep -vc '^#' "$T/n1/peers.book")" -ge "$N" ] || fail "n1's book lost addresses in the restart"
echo "    whole test: $(since "$T0") s"
echo "PASS $TEST_NAME"
