#!/usr/bin/env bash
# owner.sh - root on a home that belongs to another user (the service user
# stoad runs as): `stoa` refuses every command that opens the home's files
# (a lock file, a compacted store or a key written as root would lock that
# user out) and says to run it as that user; nothing is written. Commands
# that only talk to the daemon still run, and so does stoa as the owner,
# who can restore into its empty home in a directory it cannot write.
# `stoad` refuses to start there as root. Skipped (77) unless run as root.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || { echo "not root: nothing to check"; exit 77; }
: "${STOAD:?STOAD must name the stoad binary}"
U=nobody
id "$U" >/dev/null 2>&1 || { echo "no user $U: nothing to check"; exit 77; }
H="$T/svc"

step "a home made by root, then given to the user $U"
ok --home "$H" --quiet init --network "Service" --no-passphrase --fast-kdf
ok --home "$H" add org --name "Coopérative Test" --country FR --type ngo
ID=$(head -1 "$OUT")
snapshot "$H" "$T/before"
ok --home "$H" --quiet backup "$T/saved"
chown -R "$U" "$H" "$T/saved"
chmod 711 "$T"

step "root is refused, and writes nothing"
for cmd in "ls" "add org --name X --country FR --type ngo" "compact" "verify" "backup $T/bk" "export -o $T/x.bdl"; do
  # shellcheck disable=SC2086
  s --home "$H" $cmd
  expect_rc 1
  expect_err_contains "$H belongs to the user $U"
  expect_err_contains "runuser -u $U -- stoa"
done
[ -z "$(find "$H" -user root)" ] || fail "root wrote into the home: $(find "$H" -user root)"
[ ! -e "$T/bk" ] && [ ! -e "$T/x.bdl" ] || fail "a refused command wrote its output"

step "commands that only talk to the daemon are not refused"
s --home "$H" status
expect_rc 9
expect_err_lacks "belongs to"

step "stoad refuses to start as root there"
run "$STOAD" --home "$H" --check
expect_rc 1
expect_err_contains "$H belongs to the user $U"
run "$STOAD" --home "$H" --listen 127.0.0.1:0
expect_rc 1
[ -z "$(find "$H" -user root)" ] || fail "stoad wrote into the home as root"

step "the owner itself is served"
if runuser -u "$U" -- "$STOA" --version >/dev/null 2>&1 && runuser -u "$U" -- test -r "$H/stoa.ini"; then
  chown "$U" "$T"
  run runuser -u "$U" -- "$STOA" --home "$H" show "$ID"
  [ "$RC" -eq 0 ] || fail "$U cannot read its own home"
  expect_out_contains "Coopérative Test"

  step "the service user restores into its empty home in a directory it cannot write"
  mkdir -m 755 "$T/srv"
  install -d -m 700 -o "$U" "$T/srv/home" "$T/srv/other"
  install -d -o "$U" "$T/srv/home/.restore-99" # an interrupted restore's
  run runuser -u "$U" -- "$STOA" --home "$T/srv/home" restore "$T/saved"
  [ "$RC" -eq 0 ] || fail "$U cannot restore into its home"
  compgen -G "$T/srv/home/.restore-*" >/dev/null && fail "a temporary home was left inside"
  [ -z "$(find "$T/srv/home" ! -user "$U")" ] || fail "files not $U's: $(find "$T/srv/home" ! -user "$U")"
  run runuser -u "$U" -- "$STOA" --home "$T/srv/home" show "$ID"
  [ "$RC" -eq 0 ] || fail "the restored home does not read"
  expect_out_contains "Coopérative Test"
  cp -a "$T/saved" "$T/bad" && echo junk >"$T/bad/keys/editor.pub" # refused once copied
  run runuser -u "$U" -- "$STOA" --home "$T/srv/other" restore "$T/bad"
  expect_nonzero
  [ -z "$(ls -A "$T/srv/other")" ] || fail "a refused restore left $(ls -A "$T/srv/other")"
  chown root "$T"
else
  echo "    ($U cannot run $STOA or reach $H here (a directory above it, or a wrapper writing as root): not checked)"
fi

step "given back to root, the home holds what it held"
chown -R root "$H"
expect_unchanged "$H" "$T/before"
echo "owner: all checks passed"
