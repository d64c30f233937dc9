#!/usr/bin/env bash
# sneakernet.sh - sync by hand between two homes of one federation: the
# offline home B writes its sketch, the connected home A answers with a
# bundle of exactly what B lacks (0, 10, then 5,000 records), in both
# directions; a sketch too small for the difference fails clearly and
# `export --since` takes over; `--max-size` parts imported in reverse and
# shuffled order, in one command or several, give the full set; damaged
# parts are refused by name while the rest is imported, and the repaired
# parts complete the set; hostile sketches are refused.
. "$(dirname "$0")/lib.sh"

A="$T/a"
B="$T/b"
Z="$T/z"

# same_set X Y WHAT: the two homes hold the same records (every record
# frame of a full export, trust records and all).
same_set() {
  records_of "$1" "$T/.set1"
  records_of "$2" "$T/.set2"
  if ! cmp -s "$T/.set1" "$T/.set2"; then
    echo "  only in $1: $(comm -23 "$T/.set1" "$T/.set2" | wc -l); only in $2: $(comm -13 "$T/.set1" "$T/.set2" | wc -l)" >&2
    fail "$3: the two homes do not hold the same records"
  fi
}

# count_of HOME: records of a full export.
count_of() { records_of "$1" "$T/.cnt"; wc -l <"$T/.cnt" | tr -d ' '; }

# orgs N PREFIX FILE: N org entries as JSON Lines.
orgs() {
  python3 -c '
import json, sys
n, p = int(sys.argv[1]), sys.argv[2]
for i in range(n):
    print(json.dumps({"kind": "org", "name": "%s %d" % (p, i), "country": "SN", "type": "ngo",
                      "theme": ["remittances"]}))' "$1" "$2" >"$3"
}

# sneak FROM TO SKETCHOPTS...: TO writes a sketch, FROM answers, TO imports.
# Leaves the export's --json in exp.json, its stderr in exp.err, and the
# import's output in $OUT.
sneak() {
  local from=$1 to=$2
  shift 2
  ok --home "$to" sketch -o s.sk "$@"
  ok --home "$from" --json export --for s.sk -o d.bdl
  cp "$OUT" exp.json
  cp "$ERR" exp.err
  ok --home "$to" --json import d.bdl
}

step "a federation of two networks, in sync"
ok --home "$A" init --network "Network A" --country FR --federation "Sneakernet Federation" --no-passphrase
ok --home "$A" federation charter -o charter.stoa
ok --home "$B" init --network "Network B" --country SN --charter charter.stoa --no-passphrase
BK=$(whoami_field "$B" network_key)
ok --home "$A" federation admit "$BK"
orgs 20 "Alpha Org" a0.jsonl
ok --home "$A" --quiet add --from-json a0.jsonl
ok --home "$A" export -o a0.bdl
ok --home "$B" import a0.bdl
ok --home "$B" export -o b0.bdl
ok --home "$A" import b0.bdl
same_set "$A" "$B" "after the first exchange"
cp -a "$B" "$T/b-start"

step "sketch: options and output"
s --home "$B" sketch
expect_rc 2
s --home "$B" sketch -o x.sk --symbols 0
expect_rc 2
s --home "$B" sketch -o x.sk --symbols 2000000
expect_rc 2
s --home "$B" sketch -o x.sk --symbols 10 --differences 5
expect_rc 2
s --home "$B" sketch -o x.sk --differences -3
expect_rc 2
[ ! -e x.sk ] || fail "a refused sketch command wrote a file"
ok --home "$B" sketch -o s.sk
expect_out_contains "decodes up to about"
expect_out_contains "export --for s.sk"
ok --home "$B" --json sketch -o s.sk
NB=$(count_of "$B")
expect_eq "records in B's sketch" "$(json 'd["records"]')" "$NB"
expect_eq "sketch file size" "$(json 'd["bytes"]')" "$(stat -c %s s.sk)"
[ "$(json 'd["bytes"]')" -lt 65536 ] || fail "the default sketch is not a few tens of KB"
[ "$(json 'd["differences"]')" -ge 100 ] || fail "the default sketch decodes fewer than 100 differences"
ok --home "$B" --json sketch -o s.sk --differences 5000
K=$(json 'd["symbols"]')
[ "$(json 'd["differences"]')" -ge 5000 ] || fail "--differences 5000 gave a sketch for fewer"
[ "$K" -gt 5000 ] && [ "$K" -lt 10000 ] || fail "--differences 5000 gave $K symbols"

step "B lacks nothing: an empty bundle"
sneak "$A" "$B"
expect_eq "records sent" "$(python3 -c 'import json; print(json.load(open("exp.json"))["records"])')" 0
expect_eq "new on B" "$(json 'd["new"]')" 0
same_set "$A" "$B" "lacking 0"

step "B lacks 10 records"
orgs 10 "Beta Org" a1.jsonl
ok --home "$A" --quiet add --from-json a1.jsonl
sneak "$A" "$B"
expect_eq "records sent" "$(bundle count d.bdl)" 10
expect_eq "new on B" "$(json 'd["new"]')" 10
expect_eq "pending on B" "$(json 'd["pending"]')" 0
same_set "$A" "$B" "lacking 10"
ok --home "$B" --json search beta org
[ "$(json 'len(d)')" -eq 10 ] || fail "B does not find the 10 new entries"

step "B lacks 5,000 records"
orgs 5000 "Gamma Org" a2.jsonl
ok --home "$A" --quiet add --from-json a2.jsonl
sneak "$A" "$B" --differences 5000
expect_eq "records sent" "$(bundle count d.bdl)" 5000
expect_eq "new on B" "$(json 'd["new"]')" 5000
expect_eq "rejected on B" "$(json 'd["rejected"]')" 0
same_set "$A" "$B" "lacking 5000"
ok --home "$B" export --format jsonl -o b.jsonl
ok --home "$A" export --format jsonl -o a.jsonl
cmp -s <(sort a.jsonl) <(sort b.jsonl) || fail "the JSON Lines exports of A and B differ"

step "both sides wrote: each side's sketch brings the other's records"
orgs 3 "Delta Org" b3.jsonl
ok --home "$B" --quiet add --from-json b3.jsonl
orgs 4 "Epsilon Org" a4.jsonl
ok --home "$A" --quiet add --from-json a4.jsonl
sneak "$A" "$B"
expect_eq "records A sent" "$(bundle count d.bdl)" 4
expect_eq "records B holds and A lacks" "$(python3 -c 'import json; print(json.load(open("exp.json"))["missing_here"])')" 3
grep -qF "3 held there and not here" exp.err || fail "export --for does not say what B holds and A lacks"
sneak "$B" "$A"
expect_eq "records B sent" "$(bundle count d.bdl)" 3
same_set "$A" "$B" "after an exchange both ways"

step "a sketch too small for the difference, then --since"
ok --home "$B" sketch -o small.sk --symbols 200
sleep 1.1 # every record so far is dated before SINCE (whole seconds)
SINCE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
orgs 1000 "Zeta Org" a5.jsonl
ok --home "$A" --quiet add --from-json a5.jsonl
s --home "$A" export --for small.sk -o big.bdl
expect_rc 1
expect_err_contains "too large for this sketch"
expect_err_contains "200 symbols"
expect_err_contains "at least 1000"
expect_err_contains "--since DATE"
expect_err_contains "--differences"
[ ! -e big.bdl ] || fail "a failed export --for left a bundle"
ls big.bdl.tmp* >/dev/null 2>&1 && fail "a failed export --for left a temporary file"
ok --home "$A" --json export --since "$SINCE" -o since.bdl
NS=$(bundle count since.bdl)
[ "$NS" -ge 1000 ] || fail "--since exported $NS records, fewer than the 1000 new ones"
[ "$NS" -lt 1100 ] || fail "--since exported $NS records: more than the new ones and the trust records"
records_of "$A" a.all
bundle records since.bdl >since.set
expect_subset since.set a.all "records of --since"
ok --home "$B" --json import since.bdl
expect_eq "new on B" "$(json 'd["new"]')" 1000
expect_eq "rejected on B" "$(json 'd["rejected"]')" 0
same_set "$A" "$B" "after --since"
# The same in date forms: a plain date takes the whole day.
ok --home "$A" --json export --since "$(date -u +%Y-%m-%d)" -o day.bdl
[ "$(bundle count day.bdl)" -ge "$NS" ] || fail "--since TODAY exported fewer records than --since a moment ago"
ok --home "$A" --json export --since 2199-01-01 -o none.bdl
NT=$(bundle count none.bdl)
[ "$NT" -ge 3 ] && [ "$NT" -lt "$NS" ] || fail "--since the future exported $NT records: not just the trust records"
for bad in 2026-02-30 2026-13-01 26-11-01 2026-11-01T25:00 2026-11-01X 2026/11/01 ""; do
  s --home "$A" export --since "$bad" -o bad.bdl
  expect_rc 2
  expect_err_contains "ISO date"
done
s --home "$A" export --since 2026-11-01 --for small.sk -o bad.bdl
expect_rc 2
s --home "$A" export --since 2026-11-01 --format jsonl
expect_rc 2

step "--max-size: parts, each a whole bundle under the limit"
NA=$(count_of "$A")
s --home "$A" export --max-size 512k
expect_rc 2
s --home "$A" export --max-size 10 -o p.bdl
expect_rc 2
s --home "$A" export --max-size 12X -o p.bdl
expect_rc 2
ok --home "$A" --json export --max-size 512k -o p.bdl
NP=$(json 'len(d["parts"])')
[ "$NP" -ge 4 ] || fail "only $NP parts of 512k for $NA records"
expect_eq "records in all parts" "$(json 'sum(p["records"] for p in d["parts"])')" "$NA"
PARTS=()
for ((i = 1; i <= NP; i++)); do
  f=$(json "d[\"parts\"][$((i - 1))][\"file\"]")
  PARTS+=("$f")
  [ -f "$f" ] || fail "part $f is missing"
  sz=$(stat -c %s "$f")
  [ "$sz" -le 524288 ] || fail "part $f is $sz bytes, over 512k"
done
expect_eq "first part's name" "${PARTS[0]}" "p.bdl.1"
ls p.bdl.*tmp* >/dev/null 2>&1 && fail "temporary parts were left"
: >all-parts.set
for f in "${PARTS[@]}"; do bundle records "$f" >>all-parts.set; done
expect_eq "records across parts, each once" "$(sort all-parts.set | uniq | wc -l)" "$NA"
records_of "$A" a.all
cmp -s <(sort all-parts.set) a.all || fail "the parts do not hold A's records"

# C: a new network of the federation that holds nothing of A's yet, so that
# records of later parts wait for the trust records of part 1.
C0="$T/c0"
ok --home "$C0" init --network "Network C" --charter charter.stoa --no-passphrase
C="$T/c"

step "parts in reverse order, in one command"
rm -rf "$C"; cp -a "$C0" "$C"
REV=()
for ((i = NP - 1; i >= 0; i--)); do REV+=("${PARTS[$i]}"); done
ok --home "$C" --json import "${REV[@]}"
expect_eq "new" "$(json 'd["new"]')" "$NA"
expect_eq "rejected" "$(json 'd["rejected"]')" 0
expect_eq "files reported" "$(json 'len(d["files"])')" "$NP"
expect_eq "status of every part" "$(json 'sorted(set(f["status"] for f in d["files"]))')" '["ok"]'
same_set "$A" "$C" "parts in reverse order"

step "parts in shuffled order, one command each: the pending area holds the early ones"
rm -rf "$C"; cp -a "$C0" "$C"
mapfile -t SHUF < <(printf '%s\n' "${PARTS[@]:1}" | python3 -c 'import random, sys; l = sys.stdin.read().split(); random.Random(4).shuffle(l); print("\n".join(l))')
new=0 released=0 pending=0
for f in "${SHUF[@]}" "${PARTS[0]}"; do
  ok --home "$C" --json import "$f"
  new=$((new + $(json 'd["new"]')))
  released=$((released + $(json 'd["released"]')))
  pending=$((pending + $(json 'd["pending"]')))
  expect_eq "rejected ($f)" "$(json 'd["rejected"]')" 0
done
[ "$pending" -gt 0 ] || fail "no record waited for its trust records: the test does not test the pending area"
expect_eq "pending records released by part 1" "$released" "$pending"
expect_eq "new + released" "$((new + released))" "$NA"
ok --home "$C" --json verify
PEND=$(json 'd["pending"]')
ok --home "$C0" --json verify
expect_eq "pending left: C's own records, as before" "$PEND" "$(json 'd["pending"]')"
same_set "$A" "$C" "parts in shuffled order"

step "a corrupted part and a truncated part: refused by name, the rest imported"
rm -rf "$C"; cp -a "$C0" "$C"
P2=${PARTS[1]} P3=${PARTS[2]} P4=${PARTS[3]}
# A bit of a signature in the middle of part 2 (not a frame length, which
# would cut the rest of the part off).
read -r _ OFF2 _ < <(bundle spots "$P2" | grep sig-first | sed -n 20p)
bundle flip "$P2" "$OFF2" 0x5a bad2.bdl
head -c $(($(stat -c %s "$P3") * 2 / 3)) "$P3" >bad3.bdl
bundle flip "$P4" 12 0x5a bad4.bdl # the header's first byte
GOOD=("${PARTS[0]}" "${PARTS[@]:4}")
s --home "$C" --json import bad4.bdl bad3.bdl "${GOOD[@]}" bad2.bdl
expect_rc 5
expect_err_contains "bad2.bdl is damaged"
expect_err_contains "altered"
expect_err_contains "bad3.bdl is damaged"
expect_err_contains "truncated"
expect_err_contains "bad4.bdl is damaged: its header cannot be read"
expect_eq "damaged" "$(json 'd["damaged"]')" true
expect_eq "status of bad2" "$(json '[f["status"] for f in d["files"] if f["file"] == "bad2.bdl"][0]')" damaged
expect_eq "status of bad3" "$(json '[f["status"] for f in d["files"] if f["file"] == "bad3.bdl"][0]')" damaged
expect_eq "status of bad4" "$(json '[f["status"] for f in d["files"] if f["file"] == "bad4.bdl"][0]')" damaged
expect_eq "intact parts" "$(json 'len([f for f in d["files"] if f["status"] == "ok"])')" "${#GOOD[@]}"
# Whole parts: all imported.  The damaged ones: their intact records
# (the altered part loses one record at most: the flip hit one).
records_of "$C" c.set
expect_subset c.set a.all "records after damaged parts"
for f in "${GOOD[@]}"; do
  bundle records "$f" >part.set
  expect_subset part.set c.set "records of intact part $f"
done
bundle records "$P2" | comm -23 - c.set >lost2
expect_eq "records of the altered part lost" "$(wc -l <lost2)" 1
GOT=$(wc -l <c.set)
[ "$GOT" -lt "$NA" ] || fail "nothing is missing after importing damaged parts"
step "the repaired parts complete the set"
ok --home "$C" --json import "$P4" "$P3" "$P2"
expect_eq "new from the repaired parts" "$(( $(json 'd["new"]') + $(json 'd["released"]') ))" "$((NA - GOT))"
same_set "$A" "$C" "after the repaired parts"

step "--max-size with --for: the difference in parts"
rm -rf "$C"; cp -a "$T/b-start" "$C"
ok --home "$C" sketch -o c.sk --differences 8000
ok --home "$A" --json export --for c.sk --max-size 256k -o forp.bdl
NF=$(json 'd["records"]')
[ "$(json 'len(d["parts"])')" -ge 3 ] || fail "the difference did not take several 256k parts"
mapfile -t FP < <(json '"\n".join(p["file"] for p in d["parts"])')
ok --home "$C" --json import "${FP[@]}"
expect_eq "new" "$(json 'd["new"]')" "$NF"
same_set "$A" "$C" "--for in parts"
python3 -c 'import json; print(json.dumps({"kind": "org", "name": "Long Org", "country": "FR", "type": "ngo", "description": "d" * 7000}))' >long.json
ok --home "$A" --quiet add --from-json long.json
s --home "$A" export --for c.sk --max-size 4k -o tiny.bdl
expect_rc 4
expect_err_contains "does not fit in a part"
ls tiny.bdl* >/dev/null 2>&1 && fail "a refused split export left files"

step "hostile and foreign sketches"
ok --home "$B" sketch -o good.sk
SK=$(stat -c %s good.sk)
head -c $((SK - 1)) good.sk >cut.sk
s --home "$A" export --for cut.sk -o x.bdl
expect_rc 5
expect_err_contains "cut.sk is damaged"
expect_err_contains "truncated"
python3 -c '
import sys
b = bytearray(open("good.sk", "rb").read()); b[len(b) // 2] ^= 0x10
open("flip.sk", "wb").write(b)'
s --home "$A" export --for flip.sk -o x.bdl
expect_rc 5
expect_err_contains "altered"
cp good.sk long.sk; printf 'x' >>long.sk
s --home "$A" export --for long.sk -o x.bdl
expect_rc 5
s --home "$A" export --for a0.bdl -o x.bdl
expect_rc 4
expect_err_contains "not a usable sketch"
s --home "$A" export --for "$T/no-such.sk" -o x.bdl
expect_rc 4
expect_err_contains "no-such.sk"
ok --home "$Z" init --network Zeta --no-passphrase
ok --home "$Z" sketch -o z.sk
s --home "$A" export --for z.sk -o x.bdl
expect_rc 5
expect_err_contains "another federation"
[ ! -e x.bdl ] || fail "a refused sketch produced a bundle"
s --home "$A" import good.sk
expect_rc 4
expect_err_contains "is a sketch, not a bundle"
ok --home "$A" verify

echo "sneakernet: all good (${SECONDS}s)"
