#!/usr/bin/env bash
# rotate.sh - `stoa key rotate --role editor|node`: a home whose editor key
# leaked gets a new one, endorsed, and the old one revoked.  The home signs
# with the new key at once; what the old key signed before stays valid, on
# this node and on another that imports it all; what the thief signs with
# the old key afterwards is refused everywhere.  A wrong passphrase, a
# missing network key and an interrupted rotation change nothing.  The node
# key rotates the same way.
. "$(dirname "$0")/lib.sh"

A="$T/a"
B="$T/b"
printf 'rotation passphrase\n' >"$T/pass"

step "A with a protected network key writes with its editor key; B joins"
ok --home "$A" --passphrase-file "$T/pass" --quiet init --network "Rotation A" --country FR --fast-kdf
ok --home "$A" add org --name "Before Rotation" --country FR --type ngo
BEFORE=$(head -1 "$OUT")
OLD_ED=$(whoami_field "$A" editor_key)
ok --home "$B" --quiet init --network "Rotation B" --charter "$A/charter.stoa" --no-passphrase --fast-kdf
ok --home "$A" --passphrase-file "$T/pass" federation admit "$(whoami_field "$B" network_key)"
# The thief's copy of A's home, taken before the rotation.
cp -a "$A" "$T/thief"
snapshot "$A" "$T/snap0"
cp -a "$A/keys" "$T/keys0"

step "no passphrase, or no network key: nothing changes"
s --home "$A" key rotate --role editor </dev/null
expect_rc 6
printf 'wrong\n' >"$T/wrong"
s --home "$A" --passphrase-file "$T/wrong" key rotate --role editor
expect_rc 6
mv "$A/keys/network.key" "$T/network.key.away"
s --home "$A" --passphrase-file "$T/pass" key rotate --role editor
expect_rc 6
expect_err_contains "not in this home"
mv "$T/network.key.away" "$A/keys/network.key"
diff -r "$T/keys0" "$A/keys" >/dev/null || fail "a failed rotation changed the keys"
expect_unchanged "$A" "$T/snap0"
s --home "$A" key rotate
expect_rc 2
s --home "$A" key rotate --role member
expect_rc 2

step "rotate the editor key: new key endorsed, old one revoked"
ok --home "$A" --passphrase-file "$T/pass" --json key rotate --role editor
NEW_ED=$(json 'd["new"]')
expect_eq "old key reported" "$(json 'd["old"]')" "$OLD_ED"
[ "$NEW_ED" != "$OLD_ED" ] || fail "the editor key did not change"
expect_eq "whoami's editor key" "$(whoami_field "$A" editor_key)" "$NEW_ED"
expect_eq "new key file mode" "$(stat -c %a "$A/keys/editor.key")" 600
compgen -G "$A/keys/*.new.*" >/dev/null && fail "the new key's temporary files were left"
ok --home "$A" --json members
expect_eq "editor events" \
  "$(json '[(e["action"], e["subject"]) for e in d["events"] if e["role"] == "editor"]')" \
  "[[\"endorsed\", \"$OLD_ED\"], [\"endorsed\", \"$NEW_ED\"], [\"revoked\", \"$OLD_ED\"]]"

step "A goes on: writes and edits with the new key; the old key's entry stays"
ok --home "$A" add org --name "After Rotation" --country FR --type ngo
AFTER=$(head -1 "$OUT")
ok --home "$A" edit "$BEFORE" --city Lille
ok --home "$A" --json show "$BEFORE"
expect_eq "entry signed by the old key, edited by the new" "$(json 'd["city"]')" Lille
ok --home "$A" verify

step "the thief's records with the old key, dated after the revocation, are refused"
sleep 0.01
ok --home "$T/thief" add org --name "Thief Collective" --country FR --type ngo
THIEF=$(head -1 "$OUT")
ok --home "$T/thief" export -o "$T/thief.bdl"
s --home "$A" --json import "$T/thief.bdl"
s --home "$A" show "$THIEF"
expect_rc 3
ok --home "$A" --json search thief
expect_eq "the thief's entry on A" "$(json 'len(d)')" 0

step "B, importing everything, agrees: before and after valid, the thief's not"
ok --home "$A" export -o "$T/a.bdl"
ok --home "$B" import "$T/a.bdl"
ok --home "$B" import "$T/thief.bdl"
for id in "$BEFORE" "$AFTER"; do ok --home "$B" show "$id"; done
s --home "$B" show "$THIEF"
expect_rc 3
ok --home "$B" verify

step "an interrupted rotation's leftovers are replaced; the node key rotates too"
OLD_NODE=$(whoami_field "$A" node_key)
printf 'stale' >"$A/keys/node.new.key"
chmod 600 "$A/keys/node.new.key"
ok --home "$A" --passphrase-file "$T/pass" key rotate --role node
expect_out_contains "reload"
NEW_NODE=$(whoami_field "$A" node_key)
[ "$NEW_NODE" != "$OLD_NODE" ] || fail "the node key did not change"
[ ! -e "$A/keys/node.new.key" ] || fail "the stale node.new.key was left"
ok --home "$A" --json members
expect_eq "node events" \
  "$(json '[(e["action"], e["subject"]) for e in d["events"] if e["role"] == "node"]')" \
  "[[\"endorsed\", \"$OLD_NODE\"], [\"endorsed\", \"$NEW_NODE\"], [\"revoked\", \"$OLD_NODE\"]]"
ok --home "$A" verify

echo "rotate: ok"
