#!/usr/bin/env bash
# federation.sh - two networks of one federation, with no link but bundle
# files: joining with the charter, admission, pending records released,
# entries crossing both ways, `members`, an erasure that spreads, and a
# removal after which the removed network's new records stay pending.
. "$(dirname "$0")/lib.sh"

A="$T/a"
B="$T/b"
printf 'a long passphrase of network A\n' >pass

step "A founds the federation"
ok --home "$A" --passphrase-file pass init --network "Network A" --country FR --federation "Test Federation" --fast-kdf
ok --home "$A" --json whoami
AK=$(json 'd["network_key"]')
FID=$(json 'd["federation"]')
expect_eq "A is a member" "$(json 'd["member"]')" true
ok --home "$A" federation charter -o charter.stoa
[ -s charter.stoa ] || fail "no charter written"
expect_err_contains "--charter"

step "B joins with the charter: not yet a member"
ok --home "$B" init --network "Network B" --country SN --charter charter.stoa --no-passphrase
expect_out_contains "not yet a member"
expect_out_contains "federation admit"
ok --home "$B" whoami
expect_out_contains "not yet a member"
ok --home "$B" --json whoami
BK=$(json 'd["network_key"]')
expect_eq "B's member flag" "$(json 'd["member"]')" false
expect_eq "B's federation" "$(json 'd["federation"]')" "$FID"
expect_eq "B's federation name" "$(json 'd["federation_name"]')" "Test Federation"
[ "$AK" != "$BK" ] || fail "A and B have the same network key"
ok --home "$B" --json federation show
expect_eq "members B knows" "$(json 'd["members"]')" "[\"$AK\"]"

step "B writes while waiting: pending"
ok --home "$B" --json add org --name "Bee Société Diaspora" --country SN --type diaspora --theme remittances
expect_eq "status of B's entry" "$(json 'd[0]["status"]')" pending
BORG=$(json 'd[0]["id"]')
expect_err_contains "pending"
ok --home "$B" --json ls --limit 100
expect_unlisted "$BORG"
s --home "$B" show "$BORG"
expect_rc 3

step "A admits B"
s --home "$A" federation admit "$BK" --passphrase-file "$T/nope"
expect_nonzero
ok --home "$A" federation admit "$BK" --passphrase-file pass
expect_out_contains "admitted"
ok --home "$A" --json members
expect_eq "A's member list" "$(json 'sorted(d["members"])')" "$(python3 -c 'import json,sys; print(json.dumps(sorted(sys.argv[1:])))' "$AK" "$BK")"
ok --home "$A" add org --name "Alpha Société Solidaire" --country FR --type ngo --theme integration
AORG=$(cat "$OUT")
ok --home "$A" add practice --title "Cours du soir" --summary "Evening language classes." --theme integration --org "$AORG"
APRA=$(cat "$OUT")

step "A's bundle makes B a member and releases B's pending records"
ok --home "$A" export -o a1.bdl
N1=$(bundle count a1.bdl)
ok --home "$B" --json import a1.bdl
expect_eq "new on B" "$(json 'd["new"]')" "$N1"
expect_eq "rejected on B" "$(json 'd["rejected"]')" 0
expect_eq "pending left on B" "$(json 'd["pending"]')" 0
# B's endorsements of its editor and node keys, its own org from
# init --country, and the entry above.
[ "$(json 'd["released"]')" -ge 4 ] || fail "B's pending records were not released"
ok --home "$B" --json whoami
expect_eq "B is a member" "$(json 'd["member"]')" true
expect_eq "B's editor endorsed" "$(json 'd["editor_endorsed"]')" true
ok --home "$B" --json show "$BORG"
expect_eq "B's released entry" "$(json 'd["name"]')" "Bee Société Diaspora"
ok --home "$B" --json search alpha societe
expect_listed "$AORG"
ok --home "$B" --json ls --theme integration --limit 100
expect_listed "$AORG" "$APRA"
ok --home "$B" verify

step "B's bundle: A finds B's entries"
ok --home "$B" export -o b1.bdl
ok --home "$A" --json import b1.bdl
expect_eq "rejected on A" "$(json 'd["rejected"]')" 0
expect_eq "pending on A" "$(json 'd["pending"]')" 0
[ "$(json 'd["new"]')" -ge 4 ] || fail "A took fewer than 4 new records from B"
ok --home "$A" --json search bee societe
expect_listed "$BORG"
ok --home "$A" --json show "$BORG"
expect_eq "owner of B's entry on A" "$(json 'd["owner"]')" "$BK"
ok --home "$A" --json search --country SN
expect_listed "$BORG"
ok --home "$A" verify

step "members: both networks and who vouched"
ok --home "$A" members
expect_out_contains "$AK"
expect_out_contains "$BK"
expect_out_contains "(founder)"
expect_out_contains "who vouched"
expect_out_matches "${AK:0:16} endorsed ${BK:0:16} as member"
ok --home "$A" --json members
expect_eq "admission event" \
  "$(json '[(e["by"], e["action"], e["role"]) for e in d["events"] if e["subject"] == "'"$BK"'"]')" \
  "[[\"$AK\", \"endorsed\", \"member\"]]"
ok --home "$B" --json members
expect_eq "B's member list" "$(json 'len(d["members"])')" 2

step "only the owner edits"
s --home "$B" edit "$AORG" --city Dakar
expect_rc 2
expect_err_contains "another network"

step "an erasure on A spreads to B"
ok --home "$A" erase "$AORG" --reason "asked by the organisation"
ok --home "$A" export -o a2.bdl
ok --home "$B" import a2.bdl
ok --home "$B" show "$AORG"
expect_out_contains "erased"
expect_out_lacks "Alpha"
ok --home "$B" --json search alpha societe
expect_unlisted "$AORG"
ok --home "$B" log "$AORG"
expect_out_contains "(body erased)"
ok --home "$B" export --format jsonl
expect_out_lacks "Alpha Société"
# The old bundle still holds the body: it is not taken back in.
ok --home "$B" import a1.bdl
ok --home "$B" --json show "$AORG"
expect_eq "still erased after the old bundle" "$(json 'd.get("erased")')" true
ok --home "$B" --json search alpha societe
expect_unlisted "$AORG"
ok --home "$B" verify

step "A removes B: B's later records stay pending on A"
ok --home "$A" federation remove "$BK" --passphrase-file pass
expect_out_contains "removed"
ok --home "$A" --json members
expect_eq "A's members after the removal" "$(json 'd["members"]')" "[\"$AK\"]"
expect_eq "revocation event" \
  "$(json '[e["action"] for e in d["events"] if e["subject"] == "'"$BK"'" and e["role"] == "member"]')" \
  '["endorsed", "revoked"]'
# What B wrote while a member stays.
ok --home "$A" --json show "$BORG"
expect_eq "B's earlier entry on A" "$(json 'd["name"]')" "Bee Société Diaspora"
ok --home "$B" add org --name "Late Bee Collective" --country SN --type ngo
BLATE=$(cat "$OUT")
ok --home "$B" export -o b2.bdl
ok --home "$A" --json import b2.bdl
expect_eq "pending on A" "$(json 'd["pending"]')" 1
expect_eq "new on A" "$(json 'd["new"]')" 0
s --home "$A" show "$BLATE"
expect_rc 3
ok --home "$A" --json search late bee
expect_eq "search for B's late entry on A" "$(json 'len(d)')" 0
ok --home "$A" verify

step "B learns of its removal"
ok --home "$A" export -o a3.bdl
ok --home "$B" import a3.bdl
ok --home "$B" --json whoami
expect_eq "B's member flag after removal" "$(json 'd["member"]')" false
# B stored "Late Bee" while it did not know of its removal; once it does,
# the record is judged again: no longer an entry, as on A, and verify is
# clean (this was a bug of the first sitting).
ok --home "$B" verify
s --home "$B" show "$BLATE"
expect_rc 3
ok --home "$B" --json search late bee
expect_eq "search for the late entry on B after the removal" "$(json 'len(d)')" 0
ok --home "$B" --json show "$BORG"
expect_eq "B's earlier entry on B" "$(json 'd["name"]')" "Bee Société Diaspora"

echo "PASS $TEST_NAME"
