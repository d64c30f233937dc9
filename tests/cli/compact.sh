#!/usr/bin/env bash
# compact.sh - `stoa compact`: a store grown by several writes, edits and
# erasures is rewritten without its free pages; it then holds exactly what
# it held (records, entries, search), stays 0600, verifies clean and takes
# new entries.  While another process has the store open (LMDB's shared
# lock on lock.mdb, as stoad holds it) compact refuses and changes
# nothing; a command that starts while a compaction holds the store waits
# and then reads the new file; a copy left by an interrupted compaction is
# cleared; a store linked from elsewhere is compacted where it is.
. "$(dirname "$0")/lib.sh"

A="$T/a"
DATA="$A/store/data.mdb"
LOCK="$A/store/lock.mdb"

# hold LOCKFILE shared|excl SECONDS [truncate]: in the background, holds
# byte 0 of LOCKFILE as LMDB does (fcntl), then lets go (after emptying
# the file with truncate, as a compaction does).  Prints "held" once held.
hold() {
  python3 -c '
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
kind = fcntl.LOCK_SH if sys.argv[2] == "shared" else fcntl.LOCK_EX
fcntl.lockf(fd, kind | fcntl.LOCK_NB, 1, 0)
print("held", flush=True)
time.sleep(float(sys.argv[3]))
if len(sys.argv) > 4:
    os.ftruncate(fd, 0)
os.close(fd)
' "$@" >"$T/.hold" &
  HOLDER=$!
  for _ in $(seq 100); do grep -q held "$T/.hold" 2>/dev/null && return 0; sleep 0.1; done
  fail "the lock holder did not start"
}

step "a store written in several batches, with edits and erasures"
ok --home "$A" --quiet init --network "Réseau Alpha" --country FR --no-passphrase --fast-kdf
for part in 1 2 3 4 5; do
  python3 -c '
import json, sys
p = int(sys.argv[1])
for i in range(400):
    print(json.dumps({"kind": "org", "name": "Coopérative %d-%d des Échanges" % (p, i), "country": "FR",
                      "type": "ngo", "themes": ["remittances"], "city": "Lyon", "description": "entraide " * 20}))
' "$part" >"$T/orgs$part.jsonl"
  ok --home "$A" --quiet add org --from-json "$T/orgs$part.jsonl"
done
ok --home "$A" add org --name "Café Solidaire" --country FR --type ngo
CAFE=$(head -1 "$OUT")
ok --home "$A" --json ls --limit 100000
mapfile -t IDS < <(json '"\n".join(e["id"] for e in d)')
[ "${#IDS[@]}" -ge 2001 ] || fail "expected 2001 entries or more, got ${#IDS[@]}"
for i in $(seq 0 20 399); do ok --home "$A" --quiet edit "${IDS[$i]}" --city Marseille; done
for i in $(seq 400 40 799); do ok --home "$A" --quiet erase "${IDS[$i]}"; done
snapshot "$A" "$T/before"
ok --home "$A" --json search "cooperative echanges" --limit 100000
SEARCH_BEFORE=$(json 'len(d)')
[ "$SEARCH_BEFORE" -gt 1000 ] || fail "search found $SEARCH_BEFORE entries only"
SIZE_BEFORE=$(stat -c %s "$DATA")

step "refused while another process has the store open; nothing changes"
hold "$LOCK" shared 30
INODE=$(stat -c %i "$DATA")
s --home "$A" compact
expect_rc 7
expect_err_contains "in use by process $HOLDER"
expect_err_contains "nothing was changed"
kill "$HOLDER" 2>/dev/null; wait "$HOLDER" 2>/dev/null
expect_eq "data file" "$(stat -c %i "$DATA")" "$INODE"
[ ! -e "$A/store.compact" ] || fail "a copy was left behind"
expect_unchanged "$A" "$T/before"

step "compact: the free pages go back, everything else stays"
mkdir "$A/store.compact" && echo junk >"$A/store.compact/data.mdb" # an interrupted run's copy
ok --home "$A" --json compact
AFTER=$(json 'd["after"]')
expect_eq "size before" "$(json 'd["before"]')" "$SIZE_BEFORE"
expect_eq "size after" "$AFTER" "$(stat -c %s "$DATA")"
[ "$AFTER" -lt "$SIZE_BEFORE" ] || fail "the store did not shrink ($SIZE_BEFORE -> $AFTER bytes)"
[ ! -e "$A/store.compact" ] || fail "the copy directory was left behind"
expect_eq "data.mdb mode" "$(stat -c %a "$DATA")" 600
expect_unchanged "$A" "$T/before"
ok --home "$A" --json search "cooperative echanges" --limit 100000
expect_eq "search hits" "$(json 'len(d)')" "$SEARCH_BEFORE"
ok --home "$A" --json verify
expect_eq "verify problems" "$(json 'd["problems"]')" 0
ok --home "$A" show "$CAFE"
expect_out_contains "Café Solidaire"

step "the compacted store takes new entries"
ok --home "$A" add org --name "Atelier Nouveau" --country FR --type ngo
NEW=$(head -1 "$OUT")
ok --home "$A" --json search atelier
expect_listed "$NEW"
ok --home "$A" compact
expect_out_contains "store compacted"
ok --home "$A" --json search atelier
expect_listed "$NEW"

step "a command that starts while the store is held waits, then reads the new file"
snapshot "$A" "$T/before2"
ok --home "$A" --json ls --limit 100000
COUNT=$(json 'len(d)')
hold "$LOCK" excl 2 truncate
ok --home "$A" --json ls --limit 100000
[ -s "$LOCK" ] || fail "lock.mdb was not laid out again"
wait "$HOLDER"
expect_eq "entries listed after the wait" "$(json 'len(d)')" "$COUNT"
expect_unchanged "$A" "$T/before2"

step "a store linked from another filesystem: compacted there, the link kept"
# /dev/shm when it is another filesystem than $T (a rename between the two
# would fail), else a directory beside the home.
if [ -d /dev/shm ] && [ -w /dev/shm ] && [ "$(stat -c %d /dev/shm)" != "$(stat -c %d "$T")" ]; then
  D2=$(mktemp -d /dev/shm/stoa-compact.XXXXXX) || fail "mktemp in /dev/shm"
  trap 'rm -rf "$T" "$D2"' EXIT
else
  D2="$T/disk2"
  mkdir "$D2"
  echo "    (one filesystem only: the link is followed, the rename is not put to the test)"
fi
mv "$A/store" "$D2/store"
ln -s "$D2/store" "$A/store"
snapshot "$A" "$T/before3"
ok --home "$A" compact
[ -L "$A/store" ] || fail "the link was replaced"
[ ! -e "$A/store.compact" ] && [ ! -e "$D2/store.compact" ] || fail "a copy was left behind"
expect_unchanged "$A" "$T/before3"

step "usage and a missing home"
s --home "$A" compact extra
expect_rc 2
s --home "$T/none" compact
expect_rc 8
echo "compact: all checks passed"
