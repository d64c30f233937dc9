#!/usr/bin/env bash
# hostile2.sh - hostile peers against the limits of [limits] (issue 5).
#
# A victim V with tight limits and its honest peer H (same federation).
# A hostile peer holding H's legitimately endorsed node key
# (tests/node/evil_peer.c) sends, over the real protocol:
#   (a) records V must not take as entries: forged signatures, another
#       federation's, unendorsed signers (tests of hostile.sh, again here
#       against the limits), a revoked editor's, a future-dated one; a new
#       and an older version of an entry, each twice; a replay of every
#       record H holds.  Only valid records are stored; the future-dated and
#       untrusted ones wait in the pending area, never in the entries; the
#       newest version stays current.
#   (b) abuse of the wire: garbage after HELLO, a truncated frame, half a
#       handshake message, the handshake's last message again, a handshake
#       replayed on a new connection, a frame of the largest length: each
#       connection is closed.
#   (c) PINGs without ever reading the answers: V stops reading that peer
#       instead of queueing answers without end.
#   (d) a flood of FLOOD_N (100,000) records signed by a key nobody
#       endorsed, while H writes: H's record arrives during the flood; none
#       of the flood becomes an entry, the flood holds at most its source's
#       share of the pending area (a quarter); the flood is read no faster
#       than peer_rx_rate.
#   (e) 1,000 connections that never finish the handshake, from 250
#       addresses, while H reconnects; then 10 from one address: at most
#       max_handshakes of them are held at once, at most
#       max_connections_per_ip from one address, and handshake_timeout
#       closes the rest; H connects all the same.
#   (f) 4 MB of cheap messages (unasked PONGs), V restarted with a low
#       peer_rx_rate: it reads them no faster than the rate allows.
#   (g) 100,000 announced hashes of records nobody holds: V reads them all
#       and keeps at most 65,536 of them to ask for.
# Throughout: V's memory (VmHWM) stays under max_memory, its open file
# descriptors come back to where they were, `stoa verify` is clean, and V
# syncs with H at the end.  Timings and memory are printed as figures.
. "$(dirname "$0")/lib.sh"

if [ -z "${EVIL_PEER:-}" ] || [ ! -x "$EVIL_PEER" ]; then
  echo "EVIL_PEER must name the evil_peer binary (got '${EVIL_PEER:-}')" >&2
  exit 1
fi

FLOOD_N=${FLOOD_N:-100000}
HALFOPEN_N=${HALFOPEN_N:-1000}
MAX_HANDSHAKES=40
PER_IP=4
HS_TIMEOUT=3
RX_RATE=4000000          # bytes/s (peer_rx_rate = 4M: decimal, as line rates)
MAX_MEMORY_MIB=400       # of the sanitizer build; see docs/config.md
PENDING_MAX=10000        # store_opts' default

declare -A MARK=()
mark() { MARK[$1]=$(wc -l <"$T/$1.log"); }
log_has() { tail -n +$((${MARK[$1]:-0} + 1)) "$T/$1.log" | grep -qF -- "$2"; }

fds_of() { ls "/proc/${PID[$1]}/fd" | wc -l; }
kb_of() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/${PID[$1]}/status"; }
verify_field() {
  "$STOA" --home "$T/$1" --json verify | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}
# field WORD: the value after WORD on evil_peer's last output line.
field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) v = $(i + 1) } END { print v }' "$OUT"; }

h_reaches_v() {
  add_org H "$1"
  local id=$ID
  wait_until "H's entry $1 to reach V" has_ids V "$id"
}

evil() { run "$EVIL_PEER" "$T/H" "$(addr V)" "$@"; }
evil_closed() {
  evil "$@"
  [ "$RC" -eq 0 ] || fail "evil_peer $1: the victim did not close the connection (exit $RC)"
  echo "    $1: $(tr '\n' ' ' <"$OUT")"
  daemon_up V || fail "V does not answer after $1"
}

step "V founds a federation with tight limits; H joins; Z's editor key is endorsed by H, then revoked"
found V "Limits Federation"
cat >>"$T/V/stoa.ini" <<EOF

[limits]
max_connections_per_ip = $PER_IP
max_handshakes = $MAX_HANDSHAKES
handshake_timeout = $HS_TIMEOUT
peer_rx_rate = 4M
max_rx_queue = 8M
max_memory = ${MAX_MEMORY_MIB}M
EOF
join H "$T/V.charter"
admit V H
join Z "$T/V.charter"
found X "Other Federation"
ZED=$(whoami_field "$T/Z" editor_key) || fail "no editor key for Z"
set_peers H V
node_start V
node_start H
wait_until "H to reach V" connected H "$(addr V)"
ok --home "$T/H" key endorse --role editor "$ZED"
sleep 0.05
ok --home "$T/H" key revoke --role editor "$ZED"
add_org H "Honestword"
EDITED=$ID
ok --home "$T/H" edit "$EDITED" --name "Honestword Renamed Collective"
wait_converged V H
FD0=$(fds_of V)
echo "    V: $FD0 open file descriptors, VmRSS $(kb_of V VmRSS) kB"
set_of V "$T/v0.set"
ids_of V >"$T/v0.ids" || fail "ids of V"
PEND0=$(verify_field V pending)

step "(a) records V must not take as entries"
evil forged "$T/X"
[ "$RC" -eq 0 ] || fail "evil_peer forged: the victim did not acknowledge every message, or closed"
CONTROL=$(awk '$1 == "control" { print $2 }' "$OUT")
grep '^forged ' "$OUT" | awk '{ print $3 }' >"$T/forged.ids"
wait_until "the control record on V" has_ids V "$CONTROL"
PEND1=$(verify_field V pending)
echo "    forgeries: $((PEND1 - PEND0)) of 8 pending (signers without trust), the rest rejected"
evil future
[ "$RC" -eq 0 ] || fail "evil_peer future: not acknowledged"
read -r _ FUTURE FUTURE_ENV <"$OUT"
evil revoked "$T/Z"
[ "$RC" -eq 0 ] || fail "evil_peer revoked: not acknowledged"
read -r _ REVOKED REVOKED_ENV <"$OUT"
evil versions
[ "$RC" -eq 0 ] || fail "evil_peer versions: not acknowledged"
read -r _ VID VOLD VNEW VOLD_ENV VNEW_ENV <"$OUT"
"$STOA" --home "$T/H" --quiet export -o "$T/h.bdl" || fail "export of H"
evil replay "$T/h.bdl"
[ "$RC" -eq 0 ] || fail "evil_peer replay: not acknowledged"
echo "    $(cat "$OUT")"
for id in "$FUTURE" "$REVOKED" "$CONTROL" "$VID"; do is_id "$id" || fail "evil_peer printed no id ('$id')"; done
wait_until "the control record on V" has_ids V "$CONTROL"
for id in "$FUTURE" "$REVOKED" $(cat "$T/forged.ids"); do
  s --home "$T/V" show "$id"
  [ "$RC" -eq 3 ] || fail "entry $id is on V (show exits $RC)"
done
ids_of V >"$T/v1.ids" || fail "ids of V"
grep -q "^$VID $VNEW\$" "$T/v1.ids" || fail "the newer version of $VID is not current on V"
grep -q "^$EDITED $(grep "^$EDITED " "$T/v0.ids" | cut -d' ' -f2)\$" "$T/v1.ids" ||
  fail "the replay changed the current version of $EDITED"
expect_eq "entries added on V" "$(comm -13 "$T/v0.ids" "$T/v1.ids" | cut -d' ' -f1 | sort | tr '\n' ' ')" \
  "$(printf '%s\n' "$CONTROL" "$VID" | sort | tr '\n' ' ')"
set_of V "$T/v1.set"
# New records: the control, both versions (the older one is history), and
# perhaps the revoked editor's, held void (in no index) by the store's rule
# that a record its signer could once make is held by all (docs/trust.md).
comm -13 "$T/v0.set" "$T/v1.set" >"$T/added.set"
grep -qx "$VOLD_ENV" "$T/added.set" || fail "the older version is not stored"
grep -qx "$VNEW_ENV" "$T/added.set" || fail "the newer version is not stored"
grep -vx -e "$VOLD_ENV" -e "$VNEW_ENV" -e "$REVOKED_ENV" "$T/added.set" >"$T/added.other" || true
expect_eq "other records added to V (the control)" "$(wc -l <"$T/added.other")" 1
grep -qx "$FUTURE_ENV" "$T/v1.set" && fail "the future-dated record is held, not pending"
expect_eq "records lost by V" "$(comm -23 "$T/v0.set" "$T/v1.set" | wc -l)" 0
ok --home "$T/V" --json log "$VID"
expect_eq "versions of $VID in its history" "$(json 'len(d)')" 2
# The future-dated record waits in the pending area (and so may the revoked
# signer's, if not held void).
P=$(verify_field V pending)
[ "$P" -eq $((PEND1 + 1)) ] || [ "$P" -eq $((PEND1 + 2)) ] || fail "$P records pending on V, expected $((PEND1 + 1)) or $((PEND1 + 2))"
if grep -qx "$REVOKED_ENV" "$T/v1.set"; then echo "    the revoked editor's record is held void"; else echo "    the revoked editor's record is pending"; fi
ok --home "$T/V" verify

step "(b) abuse of the wire: each connection closed"
mark V
evil_closed garbage-ready
evil_closed truncated
evil_closed truncated-hs
evil_closed rehs
evil_closed replay-hs
evil_closed oversize
for why in "a frame failed to decrypt" "peer closed the connection" "handshake timed out" "handshake failed"; do
  log_has V "$why" || fail "V's log does not mention '$why'"
done
h_reaches_v "Honestafterb"

step "(c) PINGs, never reading the PONGs: V stops reading"
mark V
evil pingflood 24000000
[ "$RC" -eq 0 ] || fail "V read every PING although its answers could not leave: $(cat "$OUT" "$ERR")"
echo "    $(cat "$OUT"); V: VmRSS $(kb_of V VmRSS) kB, VmHWM $(kb_of V VmHWM) kB"
wait_until "V to close the ping-flooder's connection" test "$(nready V)" -eq 1
h_reaches_v "Honestafterc"

step "(d) a flood of $FLOOD_N records from a key nobody endorsed, while H writes"
mark V
ids_of V >"$T/v1.ids" || fail "ids of V"
RSS_LOG="$T/rss.log"
( while kill -0 "${PID[V]}" 2>/dev/null; do
    awk '$1 == "VmRSS:" { print $2 }' "/proc/${PID[V]}/status" 2>/dev/null
    sleep 0.2
  done >"$RSS_LOG" ) &
SAMPLER=$!
"$EVIL_PEER" "$T/H" "$(addr V)" flood "$FLOOD_N" >"$T/flood.out" 2>"$T/flood.err" &
FLOODER=$!
sleep 2
add_org H "Duringflood"
DURING=$ID
wait_until "H's entry to reach V during the flood" has_ids V "$DURING"
if alive "$FLOODER"; then echo "    H's entry reached V while the flood was still coming"; fi
wait "$FLOODER"
FRC=$?
kill "$SAMPLER" 2>/dev/null
wait "$SAMPLER" 2>/dev/null
[ "$FRC" -eq 0 ] || { cat "$T/flood.err" >&2; fail "the flood was not acknowledged in full (exit $FRC)"; }
cp "$T/flood.out" "$OUT"
FBYTES=$(field bytes)
FACK=$(field acked-ms)
echo "    $(cat "$T/flood.out")"
echo "    absorbed $FLOOD_N records ($FBYTES bytes) in $FACK ms: $((FLOOD_N * 1000 / (FACK + 1))) records/s," \
  "$((FBYTES / (FACK + 1))) kB/s (peer_rx_rate $((RX_RATE / 1000)) kB/s)"
echo "    V's VmRSS during the flood: peak $(sort -n "$RSS_LOG" | tail -1) kB over $(wc -l <"$RSS_LOG") samples"
# The rate limit: a second's burst, then peer_rx_rate.  (A bound the
# limiter guarantees, whatever the machine's speed.)
[ "$FACK" -ge $(((FBYTES - 2 * RX_RATE) * 1000 / RX_RATE)) ] ||
  fail "V read $FBYTES bytes in $FACK ms: faster than peer_rx_rate"
ids_of V >"$T/v2.ids" || fail "ids of V"
expect_eq "entries the flood added" "$(comm -13 "$T/v1.ids" "$T/v2.ids" | cut -d' ' -f1)" "$DURING"
P=$(verify_field V pending)
D=$(verify_field V dropped)
echo "    V: $P pending (bound $PENDING_MAX, a peer's share $((PENDING_MAX / 4))), $D dropped"
# Everything pending came from one source (the hostile peer holds H's node
# key): it takes at most a quarter of the area, and the rest stays free.
[ "$P" -le $((PENDING_MAX / 4)) ] || fail "the pending area holds $P records of one peer, over its share"
[ "$((P + D))" -ge "$FLOOD_N" ] || fail "$FLOOD_N flood records: only $P pending and $D dropped"
echo "    V logged $(tail -n +$((MARK[V] + 1)) "$T/V.log" | grep -c 'rejected') line(s) of rejected records"
ok --home "$T/V" verify

step "(e) $HALFOPEN_N half-open connections from 250 addresses, while H reconnects"
mark V
"$EVIL_PEER" "$T/H" "$(addr V)" halfopen "$HALFOPEN_N" "$PER_IP" $((HS_TIMEOUT + 6)) 1 >"$T/ho.out" 2>"$T/ho.err" &
HO=$!
FDMAX=0
for i in $(seq 60); do
  f=$(fds_of V)
  [ "$f" -gt "$FDMAX" ] && FDMAX=$f
  if [ "$i" -eq 5 ]; then
    ok --home "$T/H" peer remove "$(addr V)"
    ok --home "$T/H" peer add "$(addr V)"
  fi
  alive "$HO" || break
  sleep 0.1
done
wait_until "H to reconnect to V during the half-open flood" connected H "$(addr V)"
wait "$HO"
[ $? -eq 0 ] || { cat "$T/ho.err" >&2; fail "evil_peer halfopen failed"; }
cp "$T/ho.out" "$OUT"
echo "    $(cat "$OUT"); V's open descriptors: at most $FDMAX seen (from $FD0)"
[ "$(field opened)" -ge $((HALFOPEN_N * 9 / 10)) ] || fail "most half-open connections should have connected"
[ "$(field open-after-2s)" -le "$MAX_HANDSHAKES" ] || fail "V held more than max_handshakes half-open connections"
expect_eq "half-open connections still open at the end" "$(field open-at-end)" 0
[ "$FDMAX" -le $((FD0 + MAX_HANDSHAKES + 8)) ] || fail "V had $FDMAX descriptors open, baseline $FD0"
log_has V "handshake(s) dropped to make room" || fail "V's log does not mention the handshakes it dropped"
log_has V "handshake timed out" || fail "V's log does not mention timed-out handshakes"

step "(e) 10 half-open connections from one address"
mark V
run "$EVIL_PEER" "$T/H" "$(addr V)" halfopen 10 10 $((HS_TIMEOUT + 4)) 2
[ "$RC" -eq 0 ] || fail "evil_peer halfopen failed"
echo "    $(cat "$OUT")"
expect_eq "connections V held from one address" "$(field open-after-2s)" "$PER_IP"
expect_eq "half-open connections still open at the end" "$(field open-at-end)" 0
log_has V "over max_connections_per_ip" || fail "V's log does not mention the per-address limit"

step "after all: descriptors back, memory under the bound, V and H in step"
wait_until "V's descriptors to come back to $FD0" test "$(fds_of V)" -eq "$FD0"
HWM=$(kb_of V VmHWM)
echo "    V: VmHWM $HWM kB, VmRSS $(kb_of V VmRSS) kB, RssAnon $(kb_of V RssAnon) kB (max_memory $((MAX_MEMORY_MIB * 1024)) kB); $(fds_of V) descriptors (baseline $FD0)"
[ "$HWM" -lt $((MAX_MEMORY_MIB * 1024)) ] || fail "V's peak memory $HWM kB is over max_memory"

step "(f) peer_rx_rate: V restarted with 1 MB/s per connection; 4 MB of cheap messages"
node_stop V
sed -i 's/^peer_rx_rate = .*/peer_rx_rate = 1M/' "$T/V/stoa.ini"
node_start V
wait_until "H to reconnect to V" connected H "$(addr V)"
evil pongs 4000000
[ "$RC" -eq 0 ] || fail "evil_peer pongs: the victim closed, or never answered"
B=$(field bytes)
MS=$(field ms)
echo "    V read $B bytes of PONGs in $MS ms: $((B / (MS + 1))) kB/s (peer_rx_rate 1000 kB/s)"
# At most a second's burst, then the rate, and a tick of slack: a bound
# the limiter guarantees, whatever the machine's speed (without it, V
# reads these in a fraction of a second).
[ "$MS" -ge $(((B / 1000000 - 2) * 1000)) ] || fail "V read $B bytes in $MS ms: more than peer_rx_rate allows"

step "(g) 100,000 announced hashes of records nobody holds"
mark V
ok --home "$T/H" peer remove "$(addr V)"
wait_until "H to leave V" test "$(nready V)" -eq 0
"$EVIL_PEER" "$T/H" "$(addr V)" announce 100000 10 >"$T/ann.out" 2>"$T/ann.err" &
ANN=$!
ann_read() { [ "$(status_of V "sum(p['rx_announced'] for p in d['peers'])")" -ge 100000 ]; }
wait_until "V to read the 100,000 hashes" ann_read
COME=$(status_of V "sum(p['to_come'] for p in d['peers'])")
echo "    V reads them all and keeps $COME to ask for (at most 65,536 waiting, and the 16,384 asked)"
[ "$COME" -le $((65536 + 16384)) ] || fail "V keeps $COME announced hashes to ask for"
wait "$ANN" || { cat "$T/ann.err" >&2; fail "evil_peer announce: the victim closed the connection"; }
ok --home "$T/H" peer add "$(addr V)"
wait_until "H to reach V again" connected H "$(addr V)"

h_reaches_v "Honestfinal"
wait_converged V H
ok --home "$T/V" verify
stop_all
echo "PASS $TEST_NAME"
