#!/usr/bin/env bash
# diskfail.sh - the store's disk fails under `stoa import` and `stoa add`.
#
# tests/faultfs.c (LD_PRELOAD, $FAULTFS) fails the k-th write, sync or
# commit (meta page) LMDB makes on the store's files, with ENOSPC or EIO,
# once or for good.  A first pass with no fault counts the operations (N);
# then for every k in 1..N and both modes the command runs with the fault,
# and must:
#   - not crash (no signal, no sanitizer report), exit non-zero, and say why
#     ("No space left on device" / "Input/output error");
#   - have committed exactly what it reported: `import` prints "N new" for
#     the files committed before the failure; the store then holds exactly
#     the records of those files (LMDB commits a file's batch whole or not
#     at all), `add` prints no id when it failed;
# and then, without the fault, the store opens, `stoa verify` finds nothing
# wrong, and the same import (or add) completes normally.
# Import runs on three bundles, so that the failure lands in the first,
# second or third commit depending on k.
. "$(dirname "$0")/lib.sh"

[ -n "${FAULTFS:-}" ] && [ -f "$FAULTFS" ] || { echo "FAULTFS must name faultfs.so (got '${FAULTFS:-}')" >&2; exit 1; }
# ASan wants to come first in the library list; the shim does.
FF_ASAN="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
CNT="$T/.faultfs"
INJECTED_write=0 INJECTED_fsync=0 INJECTED_commit=0 RUNS=0

# faulty NTH MODE ERRNO ARGS...: `run stoa ARGS...` with the shim preloaded
# (NTH 0: count only).  The shim's counts are in $CNT afterwards.
faulty() {
  local nth=$1 mode=$2 err=$3
  shift 3
  rm -f "$CNT"
  run env LD_PRELOAD="$FAULTFS" ASAN_OPTIONS="$FF_ASAN" FAULTFS_COUNT="$CNT" \
    FAULTFS_NTH="$nth" FAULTFS_MODE="$mode" FAULTFS_ERRNO="$err" "$STOA" "$@"
}
# cnt FIELD: a figure of the shim's count file.
cnt() { awk -v k="$1" '{ for (i = 1; i < NF; i += 2) if ($i == k) print $(i + 1) }' "$CNT" 2>/dev/null || echo 0; }
tally() {
  INJECTED_write=$((INJECTED_write + $(cnt failed_write)))
  INJECTED_fsync=$((INJECTED_fsync + $(cnt failed_fsync)))
  INJECTED_commit=$((INJECTED_commit + $(cnt failed_commit)))
  RUNS=$((RUNS + 1))
}

# expect_failed_cleanly ERRNO: the fault fired, and the command failed with
# a message naming it.
expect_failed_cleanly() {
  [ "$(cnt failed)" -ge 1 ] || fail "the fault never fired ($(cat "$CNT" 2>/dev/null))"
  expect_nonzero
  expect_rc_in 1 7
  case $1 in
    ENOSPC) expect_err_contains "No space left on device" ;;
    EIO) expect_err_contains "Input/output error" ;;
  esac
}

# expect_verified HOME: the store opens and verify finds nothing wrong.
expect_verified() {
  ok --home "$1" verify
  expect_out_contains " 0 problem(s)"
}

step "A founds a federation and writes three bundles of 300 organisations"
ok --home A init --network "Network A" --federation "Disk Federation" --no-passphrase
ok --home A federation charter -o A.charter
for p in 1 2 3; do
  python3 - "$p" >"orgs$p.jsonl" <<'EOF'
import json, sys
p = int(sys.argv[1])
for i in range(300):
    print(json.dumps({"kind": "org", "name": "Disk test organisation %d-%d" % (p, i),
                      "country": "GR", "type": "ngo", "themes": ["integration"]}))
EOF
  ok --home A --quiet add --from-json "orgs$p.jsonl"
  ok --home A --quiet export -o "e$p.bdl"
done
# part1 = everything up to the first 300 (A's trust records too); part2 and
# part3 = the records each later export added.
cp e1.bdl part1.bdl
bundle records e1.bdl >P1.all
bundle records e2.bdl >E2.all
bundle drop e2.bdl part2.bdl P1.all
bundle drop e3.bdl part3.bdl E2.all
bundle records part2.bdl >P2.all
bundle records part3.bdl >P3.all
N1=$(wc -l <P1.all) N2=$(wc -l <P2.all) N3=$(wc -l <P3.all)
echo "    parts: $N1, $N2, $N3 records"
[ "$N2" -eq 300 ] && [ "$N3" -eq 300 ] && [ "$N1" -gt 300 ] || fail "unexpected part sizes"

step "B joins (its pristine home is kept); the operations of a clean import are counted"
ok --home B init --network "Network B" --charter A.charter --no-passphrase
records_of B B.base
cp -a B B.pristine
faulty 0 once ENOSPC --home B import part1.bdl part2.bdl part3.bdl
[ "$RC" -eq 0 ] || fail "import without a fault failed"
expect_out_contains "$((N1 + N2 + N3)) new, 0 known"
NOPS=$(cnt total)
echo "    a clean import of the three parts: $(cat "$CNT")"
[ "$NOPS" -ge 6 ] || fail "only $NOPS operations counted: is the shim working?"
[ "$(cnt fsync)" -ge 3 ] && [ "$(cnt commit)" -ge 3 ] || fail "expected a sync and a commit per part"
expect_verified B

# imported_prefix: B's records beyond its base are exactly parts 1..j for
# some j; prints the count.
imported_prefix() {
  records_of B B.now
  comm -13 B.base B.now >B.new
  local n
  n=$(wc -l <B.new)
  case $n in
    0) ;;
    "$N1") cmp -s <(sort P1.all) B.new || return 1 ;;
    "$((N1 + N2))") cmp -s <(sort P1.all P2.all) B.new || return 1 ;;
    "$((N1 + N2 + N3))") cmp -s <(sort P1.all P2.all P3.all) B.new || return 1 ;;
    *) return 1 ;;
  esac
  echo "$n"
}

for mode in once forever; do
  for k in $(seq 1 "$NOPS"); do
    if [ $(((k + ${#mode}) % 2)) -eq 0 ]; then err=ENOSPC; else err=EIO; fi
    step "import, $err on operation $k of $NOPS ($mode)"
    rm -rf B
    cp -a B.pristine B
    faulty "$k" "$mode" "$err" --home B import part1.bdl part2.bdl part3.bdl
    tally
    expect_failed_cleanly "$err"
    NEW=$(sed -n 's/^\([0-9]*\) new, .*/\1/p' "$OUT")
    [ -n "$NEW" ] || fail "import printed no count of what it committed"
    expect_verified B
    GOT=$(imported_prefix) || fail "the store holds records that are not a whole prefix of the parts ($(wc -l <B.new) new)"
    expect_eq "records committed against records reported new (fault at $k, $(cat "$CNT"))" "$GOT" "$NEW"
    ok --home B import part1.bdl part2.bdl part3.bdl
    expect_out_contains "$((N1 + N2 + N3 - NEW)) new, $NEW known"
    expect_verified B
  done
done

step "the operations of a clean \`stoa add\` are counted"
# On A, whose records are valid at once (B's would wait for its admission).
faulty 0 once ENOSPC --home A add org --name "Counted Collective" --country FR --type ngo
[ "$RC" -eq 0 ] || fail "add without a fault failed"
echo "    one add: $(cat "$CNT")"
[ "$(cnt total)" -ge 3 ] || fail "only $(cnt total) operations counted for add"
ok --home A --json ls --limit 100000
BEFORE=$(json 'len(d)')

# How many operations an add makes depends on the pages it touches: k
# runs up until the fault no longer fires (the add then must succeed).
for mode in once forever; do
  for k in $(seq 1 40); do
    if [ $(((k + ${#mode}) % 2)) -eq 0 ]; then err=EIO; else err=ENOSPC; fi
    step "add, $err on operation $k ($mode)"
    faulty "$k" "$mode" "$err" --home A add org --name "Faulted Collective $k $mode" --country FR --type ngo
    if [ "$(cnt failed)" -eq 0 ]; then
      [ "$RC" -eq 0 ] || fail "add failed with no fault injected"
      BEFORE=$((BEFORE + 1))
      echo "    (add makes $(cnt total) operations: done)"
      break
    fi
    tally
    expect_failed_cleanly "$err"
    [ ! -s "$OUT" ] || fail "add failed but printed an id: $(cat "$OUT")"
    expect_verified A
    ok --home A add org --name "Healthy Collective $k $mode" --country FR --type ngo
    ID=$(tr -d '[:space:]' <"$OUT")
    is_id "$ID" || fail "add printed no id"
    ok --home A --json ls --limit 100000
    expect_listed "$ID"
    expect_eq "entries after a failed add and a good one" "$(json 'len(d)')" "$((BEFORE + 1))"
    BEFORE=$(json 'len(d)')
  done
  [ "$(cnt failed)" -eq 0 ] || fail "add still fails after 40 operations"
done

step "the operations of a clean \`stoa compact\` are counted"
cp -a A A.saved
faulty 0 once ENOSPC --home A compact
[ "$RC" -eq 0 ] || fail "compact without a fault failed"
echo "    one compact: $(cat "$CNT")"
COPS=$(cnt total)
[ "$COPS" -ge 2 ] || fail "only $COPS operations counted for compact"
expect_verified A

# A failing disk while the copy is written or synced: compact fails, the
# store is the file it was, and no copy is left behind.
for k in $(seq 1 "$COPS"); do
  if [ $((k % 2)) -eq 0 ]; then err=EIO; else err=ENOSPC; fi
  step "compact, $err on operation $k of $COPS"
  rm -rf C
  cp -a A.saved C
  faulty "$k" forever "$err" --home C compact
  tally
  expect_failed_cleanly "$err"
  expect_err_contains "the store was left as it was"
  cmp -s A.saved/store/data.mdb C/store/data.mdb || fail "the data file changed"
  [ ! -e C/store.compact ] || fail "the copy was left behind"
  expect_verified C
  ok --home C compact
  expect_verified C
done

echo "    $RUNS faulted runs; failures injected: write $INJECTED_write, fsync $INJECTED_fsync, commit $INJECTED_commit"
[ "$INJECTED_write" -gt 0 ] && [ "$INJECTED_fsync" -gt 0 ] && [ "$INJECTED_commit" -gt 0 ] ||
  fail "some class of operation was never failed"
echo "PASS $TEST_NAME"
