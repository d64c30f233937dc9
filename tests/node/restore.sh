#!/usr/bin/env bash
# restore.sh - a node brought back from a backup catches up from its peers
# (docs/cli.md, Back up and restore).  A and B sync.  B is backed up while
# its daemon runs and A sends it a stream of records.  B then writes one
# more entry, which reaches A, and its machine is lost (SIGKILL, home
# deleted) while A goes on writing.  B restored from the backup, with the
# same keys, gets from A everything written since the backup, its own
# lost entry included, and its editor can go on editing that entry.
# `stoa compact` refuses while the daemon has the store open; once it is
# stopped, the compacted store holds the same records and syncs on.
. "$(dirname "$0")/lib.sh"

N=${RESTORE_N:-600}

step "A founds, B joins and is admitted; B dials A"
pair A B "Restore Federation"
add_org A Aurora
add_org B Baobab
wait_converged A B

step "B is backed up while its daemon runs and receives $N records"
orgs_jsonl "$N" "Stream organisation" KE >bulk.jsonl
ok --home "$T/A" --quiet add --from-json bulk.jsonl
ok --home "$T/B" backup "$T/B.backup"
echo "    $(head -1 "$OUT")"
ok --home "$T/B.backup.check" restore "$T/B.backup"
ok --home "$T/B.backup.check" verify
set_of B.backup.check "$T/set.backup"
wait_converged A B
expect_subset "$T/set.backup" "$T/.set.A" "the backup's records"

step "B writes once more, then its machine is lost; A goes on writing"
add_org B Cedar
CEDAR=$ID
wait_until "A to hold B's last entry" has_ids A "$CEDAR"
grep -q "$CEDAR" <(ids_of B.backup.check) && fail "the backup holds an entry written after it"
node_kill B
rm -rf "${T:?}/B"
add_org A Dune
DUNE=$ID

step "B restored from its backup: A sends it what was written since"
ok --home "$T/B" restore "$T/B.backup"
has_ids B "$CEDAR" && fail "the restored home holds an entry written after the backup"
node_start B
wait_until "B to be connected to A" connected B "$(addr A)"
wait_converged A B
has_ids B "$CEDAR" "$DUNE" || fail "B lacks an entry written since the backup"
expect_eq "B's node key" "$(whoami_field "$T/B" node_key)" "$(whoami_field "$T/B.backup.check" node_key)"

step "B's editor edits the entry it wrote after the backup; A gets the edit"
ok --home "$T/B" edit "$CEDAR" --city Nairobi
wait_converged A B
ok --home "$T/A" show "$CEDAR"
expect_out_contains "Nairobi"

step "stoa compact refuses while B's daemon has the store open; stopped, B compacts and goes on"
set_of B "$T/set.b"
s --home "$T/B" compact
expect_rc 7
expect_err_contains "in use by process ${PID[B]}"
node_stop B
ok --home "$T/B" compact
echo "    $(head -1 "$OUT")"
set_of B "$T/set.b2"
cmp -s "$T/set.b" "$T/set.b2" || fail "the compacted store does not hold the same records"
node_start B
wait_until "B to be connected to A" connected B "$(addr A)"
add_org A Elm
ELM=$ID
wait_until "B to hold A's entry written after the compaction" has_ids B "$ELM"

step "verify, and stop cleanly"
for n in A B; do ok --home "$T/$n" verify; done
stop_all
echo "PASS $TEST_NAME"
