#!/usr/bin/env bash
# badinput.sh - hostile and mistaken input.  Each case must fail with a clear
# message on stderr and a non-zero (documented) exit code, and leave the
# store exactly as it was: every record and every current entry compared
# before and after.  Damaged bundles must never crash the import nor let a
# changed record in.
. "$(dirname "$0")/lib.sh"

A="$T/a"
step "setup: a founding network with a few entries"
ok --home "$A" init --network "Alpha" --country FR --no-passphrase
ok --home "$A" add org --name "Société Alpha" --country FR --type ngo --theme gender --email a@alpha.example
ORG=$(cat "$OUT")
ok --home "$A" add actor --name "Ana Beta" --role "Lawyer" --org "$ORG" --country PT
ACT=$(cat "$OUT")
ok --home "$A" add practice --title "Legal clinics" --summary "Walk-in clinics." --theme labour-rights --org "$ORG"
ok --home "$A" edit "$ORG" --city Paris
ok --home "$A" erase "$ACT"
snapshot "$A" a.snap

# refused CODE WORDS... -- ARGS...: `stoa --home A ARGS` fails with CODE, says
# each of WORDS on stderr, and changes nothing.
refused() {
  local code=$1 words=()
  shift
  while [ "$1" != "--" ]; do words+=("$1"); shift; done
  shift
  s --home "$A" "$@"
  expect_rc "$code"
  expect_err_nonempty
  local w
  for w in "${words[@]}"; do expect_err_contains "$w"; done
  expect_unchanged "$A" a.snap
}

step "invalid field values"
refused 4 email "not-an-email" -- add org --name X --country FR --type ngo --email not-an-email
refused 4 email -- add org --name X --country FR --type ngo --email "a@b@c"
refused 4 website "javascript:alert(1)" -- add org --name X --country FR --type ngo --website "javascript:alert(1)"
refused 4 website -- add org --name X --country FR --type ngo --website "http://"
refused 4 country ZZ -- add org --name X --country ZZ --type ngo
refused 4 country -- add org --name X --country FRA --type ngo
refused 4 nosuch-theme -- add org --name X --country FR --type ngo --theme nosuch-theme
refused 4 nosuch-theme -- add practice --title X --summary Y --theme "gender;nosuch-theme"
# What people type stays held to this version's vocabulary (a typo is
# caught, with the list), though records from elsewhere may carry a later
# version's slug (docs/schemas.md, Vocabularies).
refused 4 no-such-theme recruitment remittances -- add org --name X --country FR --type ngo --theme no-such-theme
refused 4 cooperative intergovernmental -- add org --name X --country FR --type cooperative
refused 4 on-hold discontinued -- add practice --title X --summary Y --theme gender --status on-hold
refused 4 no-such-theme -- edit "$ORG" --theme no-such-theme
python3 -c 'import json; print(json.dumps({"kind": "org", "name": "J", "country": "FR", "type": "ngo", "themes": ["gender", "no-such-theme"]}))' >newtheme.json
refused 4 no-such-theme -- add --from-json newtheme.json
printf 'name,country,type,themes\r\nC,FR,ngo,gender;no-such-theme\r\n' >newtheme.csv
refused 4 no-such-theme -- add org --from-csv newtheme.csv
refused 4 type spaceship -- add org --name X --country FR --type spaceship
refused 4 founded -- add org --name X --country FR --type ngo --founded 1066
refused 4 founded -- add org --name X --country FR --type ngo --founded 19x8
refused 4 country -- add org --name X --type ngo
refused 4 themes -- add practice --title X --summary Y
refused 4 period -- add practice --title X --summary Y --theme gender --period 2020-2010
refused 4 org -- add actor --name X --org ffffffffffff
refused 4 name -- add org --name "" --country FR --type ngo
refused 4 name -- add org --name "$(head -c 300 /dev/zero | tr '\0' n)" --country FR --type ngo

step "unknown options, commands and kinds"
refused 2 bogus -- add org --name X --country FR --type ngo --bogus 1
refused 2 "unknown option" -- --bogus ls
refused 2 "unknown option" -- ls --bogus
refused 2 organisation -- add organisation --name X
refused 2 "No Such" -- ls --theme "No Such"
refused 2 Gender -- search --theme Gender alpha
# A slug this version does not know may be a later version's theme that
# records from elsewhere carry: searched for, with a warning.
ok --home "$A" --json ls --theme nosuch
expect_err_contains "'nosuch' is not a theme this version knows"
expect_eq "ls --theme of an unknown slug" "$(json 'len(d)')" 0
ok --home "$A" --json search --theme nosuch alpha
expect_err_contains "not a theme this version knows"
ok --home "$A" --json ls --theme gender
expect_err_lacks "warning"
expect_unchanged "$A" a.snap
refused 2 country -- ls --country FRANCE
refused 2 kind -- ls --kind spaceship
refused 2 format -- export --format xml
refused 2 "needs a value" -- add org --name
refused 2 "--network" -- init
refused 2 -- federation frobnicate
refused 2 "network key" -- federation admit not-a-key
s --home "$T/q" init --network Q --country ZZ --no-passphrase
expect_rc 4
expect_err_contains ZZ
[ ! -e "$T/q" ] || fail "a refused init left $T/q behind"

step "a record too large"
refused 4 description -- add org --name X --country FR --type ngo --description "$(head -c 70000 /dev/zero | tr '\0' d)"
python3 -c 'import json; print(json.dumps({"kind": "org", "name": "Big", "country": "FR", "type": "ngo", "notes": "n" * 70000}))' >big.json
refused 4 big.json -- add --from-json big.json
printf 'name,country,type,description\nBig,FR,ngo,%s\n' "$(head -c 70000 /dev/zero | tr '\0' d)" >big.csv
refused 4 big.csv -- add org --from-csv big.csv

step "invalid UTF-8"
printf 'name,country,type\nBad\xffName,FR,ngo\n' >bad.csv
refused 4 bad.csv UTF-8 -- add org --from-csv bad.csv
# A spreadsheet's own encodings: refused with the conversion to make, which
# then works.
printf 'name,country,type\nCaf\xe9 Solidaire,FR,ngo\n' >cp1252.csv
refused 4 "cp1252.csv is not UTF-8" "iconv -f WINDOWS-1252 -t UTF-8 cp1252.csv" -- add org --from-csv cp1252.csv
printf 'name\tcountry\ttype\nUnicode Org\tFR\tngo\n' | iconv -f UTF-8 -t UTF-16 >unicode.txt
refused 4 "unicode.txt is UTF-16" "iconv -f UTF-16 -t UTF-8 unicode.txt" -- add org --from-csv unicode.txt
for f in cp1252.csv:WINDOWS-1252 unicode.txt:UTF-16; do
  iconv -f "${f#*:}" -t UTF-8 "${f%%:*}" >converted.csv || fail "iconv ${f#*:}"
  ok --home "$T/conv" --quiet init --network Conv --no-passphrase --fast-kdf
  ok --home "$T/conv" add org --from-csv converted.csv
  ok --home "$T/conv" --json show "$(head -1 "$OUT")"
  case $f in cp1252*) expect_eq "converted name" "$(json 'd["name"]')" "Café Solidaire" ;;
             *) expect_eq "converted name" "$(json 'd["name"]')" "Unicode Org" ;; esac
  rm -rf "$T/conv"
done
printf '{"kind":"org","name":"Bad\xffName","country":"FR","type":"ngo"}\n' >bad.json
refused 4 bad.json -- add --from-json bad.json
printf '{"kind":"org","name":"Overlong \xc0\xaf","country":"FR","type":"ngo"}\n' >overlong.json
refused 4 overlong.json -- add --from-json overlong.json
refused 4 UTF-8 -- add org --name "$(printf 'Bad\xffName')" --country FR --type ngo
refused 4 -- add org --name "Surrogate $(printf '\xed\xa0\x80')" --country FR --type ngo

step "one bad item among good ones: nothing is stored"
printf 'name,country,type\nGood One,FR,ngo\nBad One,ZZ,ngo\nGood Two,DE,union\n' >mixed.csv
refused 4 mixed.csv:3 "nothing was stored" -- add org --from-csv mixed.csv
printf '%s\n' '{"kind":"org","name":"Good","country":"FR","type":"ngo"}' '{not json' >mixed.jsonl
refused 4 mixed.jsonl:2 -- add --from-json mixed.jsonl
printf '{"kind":"org","name":"Good","country":"FR","type":"ngo"}\n{"kind":"peer","node":"x"}\n' >kind.jsonl
refused 4 kind.jsonl:2 -- add --from-json kind.jsonl
printf 'name,country,type\n"Open quote,FR,ngo\n' >open.csv
refused 4 open.csv -- add org --from-csv open.csv
printf 'name,country,colour\nX,FR,blue\n' >col.csv
refused 4 colour -- add org --from-csv col.csv
: >empty.csv
refused 4 empty.csv -- add org --from-csv empty.csv
s --home "$A" add org --from-csv "$T/does-not-exist.csv"
expect_nonzero
expect_err_contains does-not-exist.csv
expect_unchanged "$A" a.snap

step "entry ids: not found, not an id"
refused 3 "no entry" -- show 0123456789abcdef
refused 3 "no entry" -- log 0123456789abcdef0123456789abcdef
refused 3 "no entry" -- edit 0123456789abcdef --city X
refused 3 "no entry" -- erase 0123456789abcdef
refused 2 "not an id" -- show xyz!
refused 2 "not an id" -- show abc
refused 2 -- show

step "key files: readable by others, a symlink"
chmod 644 "$A/keys/editor.key"
refused 6 editor.key "chmod 600" -- add org --name X --country FR --type ngo
chmod 640 "$A/keys/editor.key"
refused 6 "chmod 600" -- add org --name X --country FR --type ngo
chmod 600 "$A/keys/editor.key"
mv "$A/keys/editor.key" "$T/editor.key.real"
ln -s "$T/editor.key.real" "$A/keys/editor.key"
refused 6 editor.key -- add org --name X --country FR --type ngo
rm "$A/keys/editor.key"
mv "$T/editor.key.real" "$A/keys/editor.key"
printf 'STOAKEY garbage' >"$T/junk.key"
chmod 600 "$T/junk.key"
cp "$A/keys/editor.key" "$T/editor.key.save"
cp "$T/junk.key" "$A/keys/editor.key"
refused 6 editor.key -- add org --name X --country FR --type ngo
cp "$T/editor.key.save" "$A/keys/editor.key"
ok --home "$A" add org --name "Keys Are Fine Again" --country FR --type ngo
snapshot "$A" a.snap

step "a wrong passphrase"
P="$T/p"
printf 'the right one\n' >right
printf 'the wrong one\n' >wrong
: >emptypass
ok --home "$P" --passphrase-file right init --network Protected --fast-kdf
snapshot "$P" p.snap
OTHER=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
s --home "$P" federation admit "$OTHER" --passphrase-file wrong
expect_rc 6
expect_err_contains "passphrase"
expect_unchanged "$P" p.snap
s --home "$P" key endorse --role editor "$OTHER" --passphrase-file emptypass
expect_rc 6
expect_unchanged "$P" p.snap
s --home "$P" federation admit "$OTHER" --passphrase-file "$T/no-such-file"
expect_nonzero
expect_unchanged "$P" p.snap
ok --home "$P" federation admit "$OTHER" --passphrase-file right

# ---- bundles -----------------------------------------------------------------
step "bundles: setup"
ok --home "$A" federation charter -o charter.stoa
C="$T/c"
ok --home "$C" init --network Gamma --charter charter.stoa --no-passphrase
rm -rf "$T/c0"
cp -a "$C" "$T/c0"
ok --home "$A" export -o a.bdl
records_of "$A" orig.a
records_of "$C" orig.c
cat orig.a orig.c >orig.all
NREC=$(bundle count a.bdl)
[ "$NREC" -ge 8 ] || fail "a.bdl holds only $NREC records"
# The whole bundle imports cleanly into a fresh copy.
rm -rf "$C"; cp -a "$T/c0" "$C"
ok --home "$C" --json import a.bdl
expect_eq "records of a.bdl imported" "$(json 'd["new"]')" "$NREC"
records_of "$C" got
expect_subset orig.a got "A's records in C"

# import_damaged FILE WHAT [quick]: imports FILE into a fresh copy of C; it
# must fail (4 or 5) without a crash, and C must then hold only original
# records and (unless quick) still verify.
import_damaged() {
  rm -rf "$C"
  cp -a "$T/c0" "$C"
  s --home "$C" --json import "$1"
  [ "$RC" -eq 4 ] || [ "$RC" -eq 5 ] || fail "$2: expected exit 4 or 5, got $RC"
  [ -s "$OUT" ] || [ -s "$ERR" ] || fail "$2: the import says nothing"
  local irc=$RC icmd=$LAST_CMD
  cp "$OUT" imp.out
  cp "$ERR" imp.err
  records_of "$C" got
  expect_subset got orig.all "$2"
  if [ "${3:-}" != quick ]; then
    run "$STOA" --home "$C" verify
    [ "$RC" -eq 0 ] || fail "$2: verify failed after the import"
  fi
  # Back to the import's output, for the caller's checks.
  cp imp.out "$OUT"
  cp imp.err "$ERR"
  RC=$irc
  LAST_CMD=$icmd
}

step "bundles: a truncated bundle"
SIZE=$(bundle size a.bdl)
LASTREC=$(bundle frame-end a.bdl $((NREC - 1)))
MID=$(( ($(bundle frame-end a.bdl 2) + $(bundle frame-end a.bdl 3)) / 2 ))
for cut in 4 8 20 "$(bundle frame-end a.bdl 0)" "$MID" "$LASTREC" $((SIZE - 1)); do
  head -c "$cut" a.bdl >cut.bdl
  import_damaged cut.bdl "cut at $cut of $SIZE bytes"
  expect_err_matches "truncated|ends early|not a stoa bundle"
done
# Cut just before the trailer: every record is whole and is kept, but the
# import still says the file is damaged.
head -c "$LASTREC" a.bdl >cut.bdl
import_damaged cut.bdl "cut before the trailer"
expect_eq "damaged" "$(json 'd["damaged"]')" true
expect_subset orig.a got "records of a bundle cut before its trailer"

step "bundles: one byte flipped in a record, checksum recomputed by the forger"
# Only the signatures and the body hashes stand between a forged record and
# the store here.
i=0
while read -r idx off what; do
  bundle flip a.bdl "$off" 0x01 flip.bdl fix
  import_damaged flip.bdl "record $idx, $what flipped at $off"
  [ "$RC" -eq 5 ] || fail "record $idx, $what flipped: expected exit 5, got $RC"
  expect_eq "rejected ($what)" "$(json 'd["rejected"]')" 1
  h=$(bundle frame-hash a.bdl "$idx")
  ! grep -qx "$h" got || fail "record $idx, $what flipped: its original was stored all the same"
  i=$((i + 1))
done < <(bundle spots a.bdl)
[ "$i" -ge "$((3 * NREC))" ] || fail "only $i flip positions tried"
# Without --json, a person is told what was refused and why.
read -r idx off what < <(bundle spots a.bdl | grep sig-last | tail -n 1)
bundle flip a.bdl "$off" 0x01 flip.bdl fix
rm -rf "$C"; cp -a "$T/c0" "$C"
s --home "$C" import flip.bdl
expect_rc 5
expect_out_contains "1 rejected"
expect_out_matches "signature"

step "bundles: bytes flipped anywhere (no checksum repair)"
offs=$(python3 -c '
import sys
n = int(sys.argv[1]); step = max(1, n // 30)
s = set(range(0, 24, 2)) | set(range(7, n, step)) | set(range(n - 1, max(0, n - 44), -4))
print(" ".join(map(str, sorted(s))))' "$SIZE")
for off in $offs; do
  bundle flip a.bdl "$off" 0x5a flip.bdl
  import_damaged flip.bdl "byte $off flipped" quick
done
run "$STOA" --home "$C" verify
expect_rc 0

step "bundles: another federation"
Z="$T/z"
ok --home "$Z" init --network Zeta --no-passphrase
ok --home "$Z" add org --name "Zeta Org" --country FR --type ngo
ok --home "$Z" export -o z.bdl
refused 5 "another federation" -- import z.bdl
# The same network keys cannot smuggle it either: Z's charter is not A's.
refused 5 "another federation" -- import a.bdl z.bdl

step "bundles: not a bundle, empty, missing"
printf 'hello, world\n' >text.bdl
refused 4 "not a Stoa bundle" -- import text.bdl
: >empty.bdl
refused 4 empty -- import empty.bdl
s --home "$A" import "$T/no-such.bdl"
expect_nonzero
expect_err_contains no-such.bdl
expect_unchanged "$A" a.snap
refused 2 usage -- import

step "records of a network that is not a member stay pending"
# C's own records are signed by a network that A never admitted.  To carry
# them, a copy of A admits C, C takes that in and exports; the admission is
# then cut out of C's bundle, so A sees C's records without it.
rm -rf "$C"; cp -a "$T/c0" "$C"
rm -rf "$T/a2"; cp -a "$A" "$T/a2"
CK=$(whoami_field "$C" network_key)
ok --home "$T/a2" federation admit "$CK"
ok --home "$T/a2" export -o a2.bdl
ok --home "$C" import a2.bdl
ok --home "$C" add org --name "Gamma Outsider" --country IT --type ngo
GORG=$(cat "$OUT")
ok --home "$C" export -o c.bdl
bundle records a2.bdl | comm -23 - <(sort orig.a) >admission
expect_eq "records of the admission" "$(wc -l <admission)" 1
bundle drop c.bdl c-noadmit.bdl admission
NC=$(( $(bundle count c-noadmit.bdl) - NREC ))
[ "$NC" -ge 3 ] || fail "C's bundle holds only $NC records of its own"
s --home "$A" --json import c-noadmit.bdl
expect_rc 0
expect_eq "pending" "$(json 'd["pending"]')" "$NC"
expect_eq "new" "$(json 'd["new"]')" 0
expect_eq "rejected" "$(json 'd["rejected"]')" 0
s --home "$A" import c-noadmit.bdl
expect_out_contains "pending"
s --home "$A" show "$GORG"
expect_rc 3
ok --home "$A" --json search gamma outsider
expect_eq "search finds the pending entry" "$(json 'len(d)')" 0
ok --home "$A" members
expect_out_lacks "$CK"
expect_unchanged "$A" a.snap
ok --home "$A" verify

step "an editor key its network revoked"
ED=$(whoami_field "$A" editor_key)
ok --home "$A" key revoke --role editor "$ED"
snapshot "$A" a.snap
s --home "$A" add org --name "After Revocation" --country FR --type ngo
expect_rc 6
expect_err_contains "not endorsed by its network"
ok --home "$A" --json search after revocation
expect_eq "entry of a revoked editor" "$(json 'len(d)')" 0
expect_unchanged "$A" a.snap

step "an ambiguous id prefix"
M="$T/m"
ok --home "$M" init --network Many --no-passphrase
python3 -c '
print("name,country,type")
for i in range(1500): print("Org %d,FR,ngo" % i)' >many.csv
ok --home "$M" --quiet add org --from-csv many.csv
cp "$OUT" many.ids
expect_eq "ids printed" "$(wc -l <many.ids)" 1500
PFX=$(cut -c1-4 many.ids | sort | uniq -d | head -n 1)
if [ -n "$PFX" ]; then
  s --home "$M" show "$PFX"
  expect_rc 3
  expect_err_contains "ambiguous"
  FULL=$(grep "^$PFX" many.ids | head -n 1)
  ok --home "$M" --json show "$FULL"
  expect_eq "the full id still works" "$(json 'd["id"]')" "$FULL"
else
  # 1500 random ids share no 4-digit prefix about once in 10^7 runs.
  echo "note: no two of 1500 ids share a 4-digit prefix; ambiguity not tested"
fi

echo "PASS $TEST_NAME"
