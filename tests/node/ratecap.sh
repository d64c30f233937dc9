#!/usr/bin/env bash
# ratecap.sh - the upload caps of [limits] hold (issue 4: within 10%).
# a holds 1,501 entries (one of 20 KB) and caps its upload at 12 kB/s per peer and 20 kB/s
# in all.  Each other node pulls from a through its own linkproxy, which
# only forwards and counts what a wrote (down_bytes).  First b alone: the
# per-peer cap binds.  Then c and d together: the total cap binds.  The
# rate is measured by the proxies over the whole transfer (from its first
# to its last byte), and must not exceed the cap by more than 10%.  (A
# slow machine only lowers the rate, so the bound cannot fail for that.)
. "$(dirname "$0")/lib.sh"

PEER_CAP=12000
TOTAL_CAP=20000

step "a founds; b, c, d join and are admitted"
found a "Rate Cap Federation"
for n in b c d; do join "$n" "$T/a.charter"; admit a "$n"; done
ok --home "$T/a" export -o "$T/trust.bundle"
for n in b c d; do ok --home "$T/$n" import "$T/trust.bundle"; done
printf '\n[limits]\npeer_upload_rate = 12k\nupload_rate = 160kbit\n' >>"$T/a/stoa.ini"

step "a adds 1,501 entries, one of 20 KB"
python3 - >"$T/bulk.jsonl" <<'PY'
import json
# One entry of 20 KB: larger than a capped message (8 KB); it must go all
# the same (the sender once looped on it for ever).
print(json.dumps({"kind": "practice", "title": "Rate cap big practice", "summary": "s" * 4000,
                  "themes": ["labour-rights"], "worked": "w" * 8000, "failed": "f" * 8000}))
for i in range(1500):
    print(json.dumps({"kind": "org", "name": "Rate cap organisation %d" % i, "country": "KE", "type": "ngo",
                      "theme": ["labour-rights"], "city": "Mombasa",
                      "description": "Advice desk %d for domestic workers going abroad: contracts, fees, rights." % i}))
PY
ok --home "$T/a" --quiet add --from-json "$T/bulk.jsonl"
node_start a

# watch PROXY...: samples the proxies' down_bytes every second until every
# one has stopped growing for 5 s after moving something; writes
# "proxy t_ms bytes" lines to $T/samples.
watch() {
  local quiet=0 last="" now i=0
  : >"$T/samples"
  while [ $quiet -lt 5 ]; do
    sleep 1
    i=$((i + 1))
    [ $i -lt $((WAIT_MAX * 4)) ] || fail "the transfer through $* did not end"
    now=""
    for p in "$@"; do
      now="$now $(proxy_stat "$p" down_bytes)"
      echo "$p $(proxy_stat "$p" uptime_ms) $(proxy_stat "$p" down_bytes)" >>"$T/samples"
    done
    if [ "$now" = "$last" ] && [ -n "$(echo "$now" | tr -d ' 0')" ]; then quiet=$((quiet + 1)); else quiet=0; fi
    last=$now
  done
}

# rate PROXY...: bytes/s of the proxies together over the span in which
# any of them moved data (first growth to last growth).
rate() {
  python3 - "$T/samples" "$@" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
want = set(sys.argv[2:])
by_t = {}
for p, t, b in rows:
    if p in want:
        by_t.setdefault(int(t) // 1000, {})[p] = int(b)
ts = sorted(t for t in by_t if len(by_t[t]) == len(want))
tot = [(t, sum(by_t[t].values())) for t in ts]
start = next(i for i in range(1, len(tot)) if tot[i][1] > tot[i - 1][1]) - 1
end = max(i for i in range(1, len(tot)) if tot[i][1] > tot[i - 1][1])
dt = tot[end][0] - tot[start][0]
print("%d %d %d" % ((tot[end][1] - tot[start][1]) / max(dt, 1), tot[end][1] - tot[start][1], dt))
PY
}

check_rate() { # WHAT CAP PROXY...
  local what=$1 cap=$2 r
  shift 2
  r=$(rate "$@")
  set -- $r
  echo "    $what: $2 bytes in $3 s = $1 B/s against a cap of $cap B/s ($(python3 -c "print(round($1 / $cap, 3))")x)"
  [ "$1" -le $((cap * 11 / 10)) ] || fail "$what: $1 B/s exceeds the cap of $cap B/s by more than 10%"
}

step "b alone pulls through its proxy: the per-peer cap binds"
proxy_start pb a
set_peers b pb
node_start b
watch pb
wait_converged a b
check_rate "a -> b" $PEER_CAP pb

step "c and d together: the total cap binds"
proxy_start pc a
proxy_start pd a
set_peers c pc
set_peers d pd
node_start c
node_start d
watch pc pd
wait_converged a c d
check_rate "a -> c" $PEER_CAP pc
check_rate "a -> d" $PEER_CAP pd
check_rate "a -> c and d together" $TOTAL_CAP pc pd

step "no record was received twice"
for n in b c d; do
  expect_eq "records $n received that it held" "$(status_of "$n" "sum(p['rx_dup'] for p in d['peers'])")" 0
done

step "verify, and stop cleanly"
for n in a b c d; do ok --home "$T/$n" verify; done
stop_all
echo "PASS $TEST_NAME"
