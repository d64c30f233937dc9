#!/usr/bin/env bash
# backup.sh - `stoa backup DIR` and `stoa restore DIR`: a home with a
# passphrase-protected network key, edits, an erasure and a second network
# is backed up and restored into a new home that holds exactly the same
# records, keys and settings and goes on working (an entry added, a key
# endorsed with the network key).  A backup never overwrites, a restore
# never writes into a used home; damaged or mismatched backups are refused
# with no home left behind, and a damaged records file restores what is
# intact.  A home whose network key was moved away backs up and restores
# without it.
. "$(dirname "$0")/lib.sh"

A="$T/a"
printf 'correct horse battery staple\n' >"$T/pass"

# mode FILE: its permission bits in octal.
mode() { stat -c %a "$1"; }

# expect_no_home DIR WHAT: DIR and any temporary restore next to it are gone.
expect_no_home() {
  [ ! -e "$1" ] || fail "$2: $1 was left behind"
  compgen -G "$1.restore*" >/dev/null && fail "$2: a temporary home was left behind"
  return 0
}

step "a home with a protected network key, entries, an edit, an erasure, a second network"
ok --home "$A" --passphrase-file "$T/pass" --quiet init --network "Réseau Alpha" --country FR --fast-kdf
ok --home "$A" add org --name "Café Solidaire" --country FR --type ngo --theme remittances
CAFE=$(head -1 "$OUT")
ok --home "$A" add org --name "Maison des Échanges" --country FR --type network
GONE=$(head -1 "$OUT")
ok --home "$A" add actor --name "Amélie Durand" --role coordinator --country FR
ok --home "$A" edit "$CAFE" --city Lyon
ok --home "$A" erase "$GONE"
ok --home "$T/b" --quiet init --network Beta --charter "$A/charter.stoa" --no-passphrase --fast-kdf
ok --home "$A" --passphrase-file "$T/pass" federation admit "$(whoami_field "$T/b" network_key)"
records_of "$A" "$T/set.a"

step "backup: a new directory with the keys (0600), settings, charter and every record"
ok --home "$A" backup "$T/bk"
expect_out_contains "Backed up $(wc -l <"$T/set.a") records"
expect_eq "backup directory mode" "$(mode "$T/bk")" 700
expect_eq "backup keys/ mode" "$(mode "$T/bk/keys")" 700
for k in network editor node; do
  expect_eq "$k.key mode" "$(mode "$T/bk/keys/$k.key")" 600
  cmp -s "$A/keys/$k.key" "$T/bk/keys/$k.key" || fail "$k.key is not the home's"
  cmp -s "$A/keys/$k.pub" "$T/bk/keys/$k.pub" || fail "$k.pub is not the home's"
done
cmp -s "$A/stoa.ini" "$T/bk/stoa.ini" || fail "stoa.ini is not the home's"
cmp -s "$A/charter.stoa" "$T/bk/charter.stoa" || fail "charter.stoa is not the home's"
bundle records "$T/bk/records.bundle" >"$T/set.bk"
cmp -s "$T/set.a" "$T/set.bk" || fail "records.bundle does not hold exactly the home's records"
ls "$T" | grep -q '\.tmp' && fail "a temporary backup directory was left behind"

step "a backup into a directory whose parents do not exist yet makes them"
ok --home "$A" --quiet backup "$T/usb/stoa/2026-11-28"
bundle records "$T/usb/stoa/2026-11-28/records.bundle" | cmp -s - "$T/set.a" || fail "the nested backup's records"

step "backup never writes into a directory that exists"
mkdir "$T/taken"
s --home "$A" backup "$T/taken"
expect_rc 2
expect_err_contains "already exists"
[ -z "$(ls -A "$T/taken")" ] || fail "backup wrote into an existing directory"
s --home "$A" backup "$T/bk"
expect_rc 2
bundle records "$T/bk/records.bundle" | cmp -s - "$T/set.a" || fail "the first backup changed"

step "restore into a new home: the same records, keys and settings"
ok --home "$T/r1" restore "$T/bk"
expect_out_contains "Restored"
records_of "$T/r1" "$T/set.r1"
cmp -s "$T/set.a" "$T/set.r1" || fail "the restored home does not hold the same records"
snapshot "$A" "$T/snap.a"
snapshot "$T/r1" "$T/snap.r1"
cmp -s "$T/snap.a" "$T/snap.r1" || fail "the restored entries differ from the home's"
expect_eq "network key" "$(whoami_field "$T/r1" network_key)" "$(whoami_field "$A" network_key)"
expect_eq "editor key" "$(whoami_field "$T/r1" editor_key)" "$(whoami_field "$A" editor_key)"
expect_eq "home mode" "$(mode "$T/r1")" 700
for k in network editor node; do expect_eq "restored $k.key mode" "$(mode "$T/r1/keys/$k.key")" 600; done
cmp -s "$A/stoa.ini" "$T/r1/stoa.ini" || fail "stoa.ini was not restored"
ok --home "$T/r1" verify
ok --home "$T/r1" search cafe
expect_out_contains "Café Solidaire"
ok --home "$T/r1" show "$GONE"
expect_out_contains "erased"

step "the restored home goes on working: its editor and its protected network key sign"
ok --home "$T/r1" add org --name "Atelier Numérique" --country FR --type ngo
NEW=$(head -1 "$OUT")
ok --home "$T/r1" show "$NEW"
ED2=$(python3 -c 'import os; print(os.urandom(32).hex())')
s --home "$T/r1" key endorse --role editor "$ED2" </dev/null
expect_rc 6
ok --home "$T/r1" --passphrase-file "$T/pass" key endorse --role editor "$ED2"
ok --home "$T/r1" verify

step "restore refuses a home in use and leaves it as it was"
snapshot "$T/r1" "$T/snap.r1b"
s --home "$T/r1" restore "$T/bk"
expect_rc 2
expect_err_contains "not empty"
expect_unchanged "$T/r1" "$T/snap.r1b"
mkdir "$T/empty"
ok --home "$T/empty" restore "$T/bk"
ok --home "$T/empty" verify
records_of "$T/empty" "$T/set.e"
cmp -s "$T/set.a" "$T/set.e" || fail "restore into an empty directory"

step "restore on a medium that keeps no modes: keys readable by others are restored 0600"
cp -r "$T/bk" "$T/bk-fat"
chmod -R a+rwX "$T/bk-fat"
ok --home "$T/r2" restore "$T/bk-fat"
for k in network editor node; do expect_eq "restored $k.key mode" "$(mode "$T/r2/keys/$k.key")" 600; done
ok --home "$T/r2" add org --name "Collectif Été" --country FR --type ngo

step "damaged or mismatched backups: refused, no home left behind"
# rest_bad DIR RC WHAT: restore from DIR fails with RC and leaves no home.
rest_bad() {
  s --home "$T/bad" restore "$1"
  expect_rc "$2"
  expect_err_nonempty
  expect_no_home "$T/bad" "$3"
}
cp -r "$T/bk" "$T/bk1"; rm "$T/bk1/keys/editor.key"
rest_bad "$T/bk1" 4 "no editor key"
expect_err_contains "editor.key is missing"
cp -r "$T/bk" "$T/bk2"; cp "$T/b/keys/node.key" "$T/bk2/keys/node.key"
rest_bad "$T/bk2" 6 "another node's key"
expect_err_contains "does not belong"
cp -r "$T/bk" "$T/bk3"; ok --home "$T/other" --quiet init --network Other --no-passphrase --fast-kdf
ok --home "$T/other" export -o "$T/bk3/records.bundle.new"; mv "$T/bk3/records.bundle.new" "$T/bk3/records.bundle"
rest_bad "$T/bk3" 5 "another federation's records"
expect_err_contains "another federation"
cp -r "$T/bk" "$T/bk4"; printf 'not a charter' >"$T/bk4/charter.stoa"
rest_bad "$T/bk4" 4 "a damaged charter"
cp -r "$T/bk" "$T/bk5"; rm "$T/bk5/records.bundle"
rest_bad "$T/bk5" 4 "no records file"
rest_bad "$T/nowhere" 4 "no backup at all"
s --home "$T/bad" restore
expect_rc 2

step "a truncated records file: the intact records are restored, and it says so"
cp -r "$T/bk" "$T/bk6"
SZ=$(bundle size "$T/bk6/records.bundle")
truncate -s $((SZ - 40)) "$T/bk6/records.bundle"
s --home "$T/r6" restore "$T/bk6"
expect_rc 5
expect_err_contains "damaged"
ok --home "$T/r6" verify
records_of "$T/r6" "$T/set.r6"
expect_subset "$T/set.r6" "$T/set.a" "a restore from a truncated file"
[ "$(wc -l <"$T/set.r6")" -gt 0 ] || fail "nothing was restored from a truncated file"

step "a home whose network key was moved away backs up and restores without it"
cp -r "$A" "$T/a-off"
mv "$T/a-off/keys/network.key" "$T/network.key.offline"
ok --home "$T/a-off" backup "$T/bk-off"
expect_out_contains "not in the backup"
[ ! -e "$T/bk-off/keys/network.key" ] || fail "a network key appeared in the backup"
ok --home "$T/r-off" --json restore "$T/bk-off"
expect_eq "network key in the restore" "$(json 'd["network_key"]')" false
ok --home "$T/r-off" add org --name "Sans Clé" --country FR --type ngo
s --home "$T/r-off" --passphrase-file "$T/pass" key endorse --role editor "$ED2"
expect_rc 6

echo "backup: ok"
