#!/usr/bin/env bash
# crash.sh - `stoa import` killed with SIGKILL at random moments loses
# nothing it acknowledged and leaves a store that verifies.
#
# B imports eight bundles (one write transaction each) with --progress,
# which prints "FILE: N records committed" after each durable commit, and
# is killed after a random delay spread over a clean import's duration.
# After each kill:
#   - the store opens and `stoa verify` finds nothing wrong (LMDB's robust
#     writer mutex and stale reader slots of the dead process are dealt
#     with at the next open);
#   - every file the killed import said was committed is held whole:
#     importing those files again finds all their records known, none new;
#   - every tenth time, and at the end, a full import completes normally
#     and the store then holds every record.
# KILLS (default 80) sets the number of kills.  Figures are reported, never
# judged: how many kills landed before, during and after the commits.
. "$(dirname "$0")/lib.sh"

KILLS=${KILLS:-80}
PARTS=8
PER=250

step "A writes $PARTS bundles of $PER organisations; B joins"
ok --home A init --network "Network A" --federation "Crash Federation" --no-passphrase
ok --home A federation charter -o A.charter
FILES=()
for p in $(seq 1 $PARTS); do
  python3 - "$p" "$PER" >"orgs$p.jsonl" <<'EOF'
import json, sys
p, n = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    print(json.dumps({"kind": "org", "name": "Crash test organisation %d-%d" % (p, i),
                      "country": "KE", "type": "ngo"}))
EOF
  ok --home A --quiet add --from-json "orgs$p.jsonl"
  ok --home A --quiet export -o "e$p.bdl"
  if [ "$p" -eq 1 ]; then
    cp e1.bdl part1.bdl
  else
    bundle records "e$((p - 1)).bdl" >prev.all
    bundle drop "e$p.bdl" "part$p.bdl" prev.all
  fi
  SIZE[$p]=$(bundle count "part$p.bdl")
  FILES+=("part$p.bdl")
done
TOTAL=$(bundle count "e$PARTS.bdl")
echo "    $TOTAL records in $PARTS bundles (${SIZE[*]})"
ok --home B init --network "Network B" --charter A.charter --no-passphrase
cp -a B B.pristine

step "a clean import, timed (the kills are spread over its duration)"
t0=$(date +%s%N)
ok --home B import --progress "${FILES[@]}"
t1=$(date +%s%N)
CLEAN_MS=$(((t1 - t0) / 1000000))
expect_out_matches "^$TOTAL new, 0 known"
[ "$(grep -c 'records committed$' "$ERR")" -eq "$PARTS" ] || fail "expected one progress line per bundle"
echo "    clean import: ${CLEAN_MS} ms"
[ "$CLEAN_MS" -ge 1 ] || CLEAN_MS=1

KILLED=0 EARLY=0 MIDDLE=0 LATE=0 ACKED=0
for i in $(seq 1 "$KILLS"); do
  step "kill $i of $KILLS"
  rm -rf B
  cp -a B.pristine B
  delay=$((RANDOM * 32768 + RANDOM))
  delay=$((delay % (CLEAN_MS * 9 / 10 + 1)))
  "$STOA" --home B import --progress "${FILES[@]}" >"$OUT" 2>"$ERR" &
  pid=$!
  sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
  kill -KILL "$pid" 2>/dev/null
  wait "$pid"
  rc=$?
  LAST_CMD="stoa --home B import --progress ... (killed after ${delay} ms)"
  RC=$rc
  grep -qE 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' "$ERR" &&
    fail "sanitizer report"
  # Files the import said were committed, whole.
  acked=()
  sum=0
  for p in $(seq 1 $PARTS); do
    if grep -qx "stoa import: part$p.bdl: ${SIZE[$p]} records committed" "$ERR"; then
      acked+=("part$p.bdl")
      sum=$((sum + SIZE[p]))
    fi
  done
  if [ "$rc" -eq 0 ]; then
    LATE=$((LATE + 1))
  elif [ "$rc" -eq 137 ]; then
    KILLED=$((KILLED + 1))
    if [ "${#acked[@]}" -eq 0 ]; then EARLY=$((EARLY + 1)); else MIDDLE=$((MIDDLE + 1)); fi
  else
    fail "import exited with $rc"
  fi
  ACKED=$((ACKED + ${#acked[@]}))
  ok --home B verify
  expect_out_contains " 0 problem(s)"
  if [ "${#acked[@]}" -gt 0 ]; then
    ok --home B import "${acked[@]}"
    expect_out_matches "^0 new, $sum known, 0 pending, 0 rejected"
  fi
  if [ $((i % 10)) -eq 0 ] || [ "$i" -eq "$KILLS" ]; then
    # A commit whose progress line the kill cut off is known here too.
    ok --home B import "${FILES[@]}"
    NEW=$(sed -n 's/^\([0-9]*\) new, \([0-9]*\) known, 0 pending, 0 rejected$/\1 \2/p' "$OUT")
    [ -n "$NEW" ] || fail "no counts from the full import"
    set -- $NEW
    [ $(($1 + $2)) -eq "$TOTAL" ] && [ "$2" -ge "$sum" ] ||
      fail "full import: $1 new and $2 known, expected $TOTAL in all and at least $sum known"
    ok --home B --json ls --limit 100000
    expect_eq "entries after the full import" "$(json 'len(d)')" "$((PARTS * PER))"
    ok --home B verify
    expect_out_contains " 0 problem(s)"
  fi
done

echo "    $KILLED imports killed ($EARLY before their first commit, $MIDDLE after some), $LATE finished before the kill; $ACKED acknowledged bundles checked"
[ "$KILLED" -gt 0 ] || fail "no import was killed"
echo "PASS $TEST_NAME"
