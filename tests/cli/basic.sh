#!/usr/bin/env bash
# basic.sh - one node and the everyday commands: init, whoami, add (options,
# JSON, JSON Lines, CSV), show, log, ls, search, edit, erase, export, verify,
# reindex, id prefixes, --help, and a passphrase-protected network key.
. "$(dirname "$0")/lib.sh"

A="$T/a"

step "--help on stoa and on every command"
ok --help
expect_out_contains "usage: stoa"
for c in init whoami add edit erase show log ls search export import federation members key verify reindex; do
  ok "$c" --help
  expect_out_contains "usage: stoa $c"
done
ok --version
expect_out_contains "stoa "
s frobnicate
expect_rc 2
expect_err_contains "unknown command"

step "no home yet"
s --home "$A" ls
expect_rc 8
expect_err_contains "stoa init"
s --home "$A" whoami
expect_rc 8

step "init creates keys, store, charter and config"
ok --home "$A" init --network "Réseau Test" --country FR --no-passphrase
expect_out_contains "network key"
for k in network editor node; do
  [ -f "$A/keys/$k.key" ] || fail "keys/$k.key is missing"
  [ -f "$A/keys/$k.pub" ] || fail "keys/$k.pub is missing"
  expect_eq "mode of keys/$k.key" "$(stat -c %a "$A/keys/$k.key")" 600
done
expect_eq "mode of keys/" "$(stat -c %a "$A/keys")" 700
[ -d "$A/store" ] || fail "no store directory"
[ -s "$A/charter.stoa" ] || fail "no charter.stoa"
[ -s "$A/stoa.ini" ] || fail "no stoa.ini"
s --home "$A" init --network Again --no-passphrase
expect_rc 2
expect_err_contains "already"

step "whoami, text and JSON"
ok --home "$A" whoami
expect_out_contains "(member)"
expect_out_lacks "not yet"
ok --home "$A" --json whoami
NK=$(json 'd["network_key"]')
[[ "$NK" =~ ^[0-9a-f]{64}$ ]] || fail "network_key is not 64 hex digits: $NK"
expect_eq "member" "$(json 'd["member"]')" true
expect_eq "editor_endorsed" "$(json 'd["editor_endorsed"]')" true
expect_eq "federation_name" "$(json 'd["federation_name"]')" "Réseau Test"
[[ "$(json 'd["editor_key"]')" =~ ^[0-9a-f]{64}$ ]] || fail "bad editor_key"
expect_eq "network.pub" "$(cut -d' ' -f1 "$A/keys/network.pub")" "$NK"
# Global options after the command, and STOA_HOME instead of --home.
ok whoami --home "$A" --json
expect_eq "network_key (options after the command)" "$(json 'd["network_key"]')" "$NK"
run env STOA_HOME="$A" "$STOA" --json whoami
expect_rc 0
expect_eq "network_key (STOA_HOME)" "$(json 'd["network_key"]')" "$NK"

# The org of the network itself, made by init --country.
ok --home "$A" --json ls --limit 1000
expect_eq "entries after init" "$(json 'len(d)')" 1
expect_eq "the network's own org" "$(json 'd[0]["name"]')" "Réseau Test"
NENT=1

step "add org with options, repeated --theme and accents"
ok --home "$A" add org --name "Société Générale des Migrants" --country fr --type ngo \
  --theme gender --theme climate --theme 'diaspora;remittances' --theme gender \
  --email contact@sgm.example --website https://sgm.example --city "Besançon" \
  --language fr --founded 1998 --description "Accueil et cours de langue pour les familles."
ORG=$(cat "$OUT")
is_id "$ORG" || fail "add did not print one id: '$ORG'"
NENT=$((NENT + 1))
ok --home "$A" --json show "$ORG"
expect_eq "id" "$(json 'd["id"]')" "$ORG"
expect_eq "kind" "$(json 'd["kind"]')" org
expect_eq "name" "$(json 'd["name"]')" "Société Générale des Migrants"
expect_eq "country (upper-cased)" "$(json 'd["country"]')" FR
expect_eq "themes (repeated, ';' lists, duplicates dropped)" \
  "$(json '",".join(sorted(d["themes"]))')" "climate,diaspora,gender,remittances"
expect_eq "city" "$(json 'd["city"]')" "Besançon"
expect_eq "founded" "$(json 'd["founded"]')" 1998
expect_eq "owner" "$(json 'd["owner"]')" "$NK"
expect_eq "versions" "$(json 'd["versions"]')" 1

step "add actor and practice, with references"
ok --home "$A" add actor --name "Jürgen Straße" --role "Berater" --org "${ORG:0:8}" --country DE \
  --theme integration --contact "+49 30 123456" --consent yes
ACT=$(cat "$OUT")
is_id "$ACT" || fail "add actor did not print an id"
NENT=$((NENT + 1))
ok --home "$A" --json show "$ACT"
expect_eq "actor's org (resolved from a prefix)" "$(json 'd["org"]')" "$ORG"
expect_eq "consent" "$(json 'd["consent"]')" true
ok --home "$A" add practice --title "Recrutement équitable" --summary "Zero fees for workers." \
  --theme recruitment --theme labour-rights --country PH --countries NP --org "$ORG" \
  --period 2015-2019 --status completed --worked "Bilateral talks." --failed "Monitoring abroad."
PRA=$(cat "$OUT")
is_id "$PRA" || fail "add practice did not print an id"
NENT=$((NENT + 1))
ok --home "$A" --json show "$PRA"
expect_eq "practice countries" "$(json '",".join(sorted(d["countries"]))')" "NP,PH"
expect_eq "practice orgs" "$(json 'd["orgs"]')" "[\"$ORG\"]"
ok --home "$A" --json add org --name "Jay Son" --country SN --type faith
expect_eq "add --json status" "$(json 'd[0]["status"]')" new
is_id "$(json 'd[0]["id"]')" || fail "add --json: no id"
NENT=$((NENT + 1))

step "add --from-json: one object, an array, JSON Lines"
cat >one.json <<'EOF'
{"kind": "org", "name": "Ünïon des Travailleurs Domestiques", "country": "PH", "type": "union",
 "themes": ["domestic-workers", "labour-rights"], "notes": "an unknown field is kept"}
EOF
ok --home "$A" add --from-json one.json
J1=$(cat "$OUT")
is_id "$J1" || fail "--from-json (one object) did not print one id: '$J1'"
NENT=$((NENT + 1))
ok --home "$A" --json show "$J1"
expect_eq "unknown field kept" "$(json 'd["notes"]')" "an unknown field is kept"
cat >noind.json <<'EOF'
[{"name": "Array One", "role": "Researcher"}, {"name": "Array Two", "country": "KE"}]
EOF
ok --home "$A" add actor --from-json noind.json
expect_eq "ids printed for a JSON array" "$(grep -cE '^[0-9a-f]{32}$' "$OUT")" 2
NENT=$((NENT + 2))
printf '%s\n' \
  '{"kind":"org","name":"Lines One","country":"NP","type":"ngo","themes":"remittances"}' \
  '' \
  '{"kind":"practice","title":"Lines Two","summary":"Pooled transfers.","themes":["remittances"]}' \
  '{"kind":"actor","name":"Lines Three"}' >many.jsonl
ok --home "$A" add --from-json many.jsonl
expect_eq "ids printed for JSON Lines" "$(grep -cE '^[0-9a-f]{32}$' "$OUT")" 3
expect_eq "nothing else printed" "$(wc -l <"$OUT")" 3
NENT=$((NENT + 3))

step "add --from-csv: header row, quoted fields with commas and quotes"
printf 'name,country,type,themes,description\r\n"Comma, Inc.",KE,business,"trafficking;gender","He said ""hi"", then left"\r\nPlain Org,SN,ngo,,\r\n' >orgs.csv
ok --home "$A" add org --from-csv orgs.csv
expect_eq "ids printed for CSV rows" "$(grep -cE '^[0-9a-f]{32}$' "$OUT")" 2
CSV1=$(sed -n 1p "$OUT")
NENT=$((NENT + 2))
ok --home "$A" --json show "$CSV1"
expect_eq "CSV quoted name" "$(json 'd["name"]')" "Comma, Inc."
expect_eq "CSV doubled quotes" "$(json 'd["description"]')" 'He said "hi", then left'
expect_eq "CSV list cell" "$(json '",".join(d["themes"])')" "trafficking,gender"

step "add --from-csv from a spreadsheet set to French or German (;) or saved as tab-separated text"
# csv_one FILE NAME THEMES: FILE adds one org, shown with that name and
# those themes (comma-joined); $OUT is then its `show --json`.
csv_one() {
  ok --home "$A" add org --from-csv "$1"
  ok --home "$A" --json show "$(sed -n 1p "$OUT")"
  NENT=$((NENT + 1))
  expect_eq "$1: name" "$(json 'd["name"]')" "$2"
  expect_eq "$1: list cell" "$(json '",".join(d["themes"])')" "$3"
}
printf 'name;country;type;themes;city\r\n"Café; Solidaire";FR;ngo;"remittances;diaspora";Lyon\r\n' >semi.csv
csv_one semi.csv "Café; Solidaire" remittances,diaspora
expect_eq "; CSV last column" "$(json 'd["city"]')" "Lyon"
printf 'name\tcountry\ttype\tthemes\nTabbed Org\tKE\tngo\tgender;health-workforce\n' >tab.tsv
csv_one tab.tsv "Tabbed Org" gender,health-workforce

step "ls and its filters"
ok --home "$A" --json ls --limit 1000
expect_eq "entries listed" "$(json 'len(d)')" "$NENT"
ok --home "$A" ls --limit 1000
expect_eq "lines of ls" "$(wc -l <"$OUT")" "$NENT"
expect_out_contains "${ORG:0:10}"
ok --home "$A" --json ls --limit 2
expect_eq "ls --limit 2" "$(json 'len(d)')" 2
ok --home "$A" --json ls --kind practice --limit 1000
expect_eq "ls --kind practice: only practices" "$(json 'sorted(set(e["kind"] for e in d))')" '["practice"]'
expect_eq "ls --kind practice: both" "$(json 'len(d)')" 2
ok --home "$A" --json ls --country de --limit 1000
expect_listed "$ACT"
expect_unlisted "$ORG" "$PRA"
ok --home "$A" --json ls --country PH --limit 1000
expect_listed "$PRA" "$J1"
expect_unlisted "$ACT" "$ORG"
ok --home "$A" --json ls --theme gender --limit 1000
expect_listed "$ORG" "$CSV1"
expect_unlisted "$ACT" "$PRA"
ok --home "$A" --json ls --theme children
expect_eq "ls --theme with no match" "$(json 'len(d)')" 0

step "search: case and accents do not matter"
ok --home "$A" --json search societe
expect_eq "search societe" "$(json '[e["id"] for e in d]')" "[\"$ORG\"]"
ok --home "$A" --json search SOCIÉTÉ générale
expect_eq "search SOCIÉTÉ générale" "$(json '[e["id"] for e in d]')" "[\"$ORG\"]"
ok --home "$A" --json search strasse
expect_eq "search strasse" "$(json '[e["id"] for e in d]')" "[\"$ACT\"]"
ok --home "$A" --json search jurgen
expect_listed "$ACT"
ok --home "$A" --json search union travailleurs
expect_listed "$J1"
ok --home "$A" --json search besancon
expect_listed "$ORG"
ok --home "$A" --json search societe --kind actor
expect_unlisted "$ORG"
ok --home "$A" search zzyzxnotaword
expect_eq "search with no match prints no entry" "$(wc -c <"$OUT")" 0
expect_err_contains "no entries"

step "id prefixes"
ok --home "$A" --json show "${ORG:0:6}"
expect_eq "show by a 6-digit prefix" "$(json 'd["id"]')" "$ORG"
ok --home "$A" --json show "${ORG^^}"
expect_eq "show by an upper-case id" "$(json 'd["id"]')" "$ORG"

step "edit writes a second version; log shows both"
ok --home "$A" edit "$ORG" --city Lyon
expect_eq "edit prints the id" "$(cat "$OUT")" "$ORG"
ok --home "$A" --json log "$ORG"
expect_eq "versions in log --json" "$(json 'len(d)')" 2
expect_eq "first version's city" "$(json 'd[0]["city"]')" "Besançon"
expect_eq "second version's city" "$(json 'd[1]["city"]')" "Lyon"
ok --home "$A" log "$ORG"
expect_eq "versions in log" "$(grep -c '^version ' "$OUT")" 2
ok --home "$A" --json show "$ORG"
expect_eq "current city" "$(json 'd["city"]')" Lyon
expect_eq "versions" "$(json 'd["versions"]')" 2
expect_eq "themes kept by the edit" "$(json 'len(d["themes"])')" 4
ok --home "$A" --json search lyon
expect_listed "$ORG"
ok --home "$A" --json search besancon
expect_unlisted "$ORG"
ok --home "$A" edit "$ORG" --unset email
ok --home "$A" --json show "$ORG"
expect_eq "email unset" "$(json '"email" in d')" false
expect_eq "versions after unset" "$(json 'd["versions"]')" 3

step "erase: show says erased, search no longer finds it"
ok --home "$A" erase "$ACT" --reason "at his request"
expect_out_contains "erased"
ok --home "$A" show "$ACT"
expect_out_contains "erased"
expect_out_lacks "Straße"
expect_out_lacks "Berater"
ok --home "$A" --json show "$ACT"
expect_eq "erased" "$(json 'd.get("erased")')" true
expect_eq "no name left" "$(json '"name" in d')" false
ok --home "$A" log "$ACT"
expect_out_contains "(body erased)"
expect_out_lacks "Straße"
ok --home "$A" --json search strasse
expect_eq "search strasse after erase" "$(json 'len(d)')" 0
ok --home "$A" --json search berater
expect_eq "search berater after erase" "$(json 'len(d)')" 0
s --home "$A" edit "$ACT" --role x
expect_nonzero
expect_err_contains "erased"

step "export --format jsonl"
ok --home "$A" export --format jsonl
python3 - "$OUT" "$ORG" "$ACT" "$CSV1" <<'EOF' || fail "JSON Lines export is wrong"
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
recs = [json.loads(l) for l in lines]
ids = {r["id"]: r for r in recs}
assert sys.argv[2] in ids and ids[sys.argv[2]]["city"] == "Lyon", "edited org missing or stale"
assert sys.argv[3] not in ids, "erased entry exported"
assert ids[sys.argv[4]]["description"] == 'He said "hi", then left'
assert all(r["kind"] in ("org", "actor", "practice") for r in recs)
assert not any("Straße" in l for l in lines), "erased text exported"
EOF
[ "$(wc -l <"$OUT")" -eq $((NENT - 1)) ] || fail "jsonl lines: $(wc -l <"$OUT"), expected $((NENT - 1))"
ok --home "$A" export --format jsonl --kind practice
expect_eq "jsonl --kind practice" "$(wc -l <"$OUT")" 2

step "export --format csv"
ok --home "$A" export --format csv --kind org
python3 - "$OUT" "$ORG" "$CSV1" <<'EOF' || fail "CSV export is wrong"
import csv, sys
rows = list(csv.reader(open(sys.argv[1], encoding="utf-8", newline="")))
hdr = rows[0]
assert hdr[:4] == ["id", "name", "country", "type"], hdr
byid = {r[0]: dict(zip(hdr, r)) for r in rows[1:]}
assert byid[sys.argv[2]]["name"] == "Société Générale des Migrants"
assert byid[sys.argv[2]]["city"] == "Lyon"
assert sorted(byid[sys.argv[2]]["themes"].split(";")) == ["climate", "diaspora", "gender", "remittances"]
assert byid[sys.argv[3]]["name"] == "Comma, Inc."
assert byid[sys.argv[3]]["description"] == 'He said "hi", then left'
assert all(len(r) == len(hdr) for r in rows)
EOF
s --home "$A" export --format csv
expect_rc 2
s --home "$A" export --format xml
expect_rc 2
# The CSV export reads back in as the same entries (a new copy of each).
ok --home "$A" export --format csv --kind practice -o prac.csv
[ -s prac.csv ] || fail "export -o wrote nothing"
# For a spreadsheet set to French or German: ';' and a BOM (without it, the
# spreadsheet reads UTF-8 as its own encoding); the same cells, and it
# reads back in as the same entries.
ok --home "$A" export --format csv --kind org --separator ';' --bom -o excel.csv
[ "$(head -c 3 excel.csv | od -An -tx1 | tr -d ' ')" = efbbbf ] || fail "no BOM"
python3 - excel.csv "$OUT" "$ORG" <<'EOF' || fail "the ; export differs from the , one"
import csv, sys
semi = list(csv.reader(open(sys.argv[1], encoding="utf-8-sig", newline=""), delimiter=";"))
assert semi[0][:4] == ["id", "name", "country", "type"], semi[0]
byid = {r[0]: dict(zip(semi[0], r)) for r in semi[1:]}
assert byid[sys.argv[3]]["name"] == "Société Générale des Migrants"
assert sorted(byid[sys.argv[3]]["themes"].split(";")) == ["climate", "diaspora", "gender", "remittances"]
assert all(len(r) == len(semi[0]) for r in semi)
EOF
ok --home "$T/excel" --quiet init --network Excel --no-passphrase --fast-kdf
ok --home "$T/excel" add org --from-csv excel.csv
ok --home "$T/excel" --json search societe
expect_eq "entries found after the ; round trip" "$(json 'len(d)')" 1
expect_eq "themes after the ; round trip" "$(json '",".join(sorted(d[0]["themes"]))')" "climate,diaspora,gender,remittances"
ok --home "$A" export --format csv --kind org --separator tab -o tab.csv
[ "$(head -1 tab.csv | cut -f2)" = name ] || fail "tab-separated header: $(head -1 tab.csv)"
s --home "$A" export --format csv --kind org --separator '|'
expect_rc 2
s --home "$A" export --format jsonl --bom
expect_rc 2

step "export a bundle and import it back: everything known"
ok --home "$A" export -o all.bdl
expect_err_contains "wrote"
[ "$(bundle count all.bdl)" -gt "$NENT" ] || fail "bundle holds too few records"
snapshot "$A" before.snap
ok --home "$A" --json import all.bdl
expect_eq "new on re-import" "$(json 'd["new"]')" 0
expect_eq "rejected on re-import" "$(json 'd["rejected"]')" 0
expect_eq "known on re-import" "$(json 'd["known"]')" "$(bundle count all.bdl)"
expect_unchanged "$A" before.snap

step "verify, reindex, verify"
ok --home "$A" verify
expect_out_contains "0 problem(s)"
ok --home "$A" --json verify
expect_eq "verify problems" "$(json 'd["problems"]')" 0
ok --home "$A" reindex
ok --home "$A" verify
expect_out_contains "0 problem(s)"
# The rebuilt indexes answer as before.
ok --home "$A" --json search societe
expect_eq "search after reindex" "$(json '[e["id"] for e in d]')" "[\"$ORG\"]"
ok --home "$A" --json search strasse
expect_eq "erased stays unfindable after reindex" "$(json 'len(d)')" 0
ok --home "$A" --json ls --theme gender --limit 1000
expect_listed "$ORG"
ok --home "$A" --json show "$ACT"
expect_eq "erased after reindex" "$(json 'd.get("erased")')" true
expect_unchanged "$A" before.snap

step "a passphrase-protected network key"
P="$T/p"
printf 'correct horse battery staple\n' >pass
ok --home "$P" --passphrase-file pass init --network Protected --fast-kdf
expect_eq "mode of the protected key" "$(stat -c %a "$P/keys/network.key")" 600
OTHER=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
# Without a passphrase and without a terminal: a clear refusal.
run notty "$STOA" --home "$P" federation admit "$OTHER"
expect_rc 6
expect_err_contains "--passphrase-file"
ok --home "$P" federation admit "$OTHER" --passphrase-file pass
ok --home "$P" --json members
expect_out_contains "$OTHER"
# Day-to-day writing uses the editor key: no passphrase needed.
run notty "$STOA" --home "$P" add org --name "No Pass Needed" --country FR --type ngo
expect_rc 0
ok --home "$P" verify

echo "PASS $TEST_NAME"
