#!/usr/bin/env bash
# completion.sh - the bash completion (scripts/stoa.bash) offers what the
# binary takes: every command of `stoa --help`, the options of a command's
# usage, the fields of `stoa add KIND`, vocabularies (kinds, formats,
# themes, an enum field's words), the subcommands, files and directories
# where a path goes, and the ids of the home's entries.
. "$(dirname "$0")/lib.sh"

SCRIPT="$(dirname "$0")/../../scripts/stoa.bash"
[ -r "$SCRIPT" ] || fail "no $SCRIPT"
# The completion calls `stoa` from PATH: this build's.
mkdir -p "$T/bin"
ln -s "$(readlink -f "$STOA")" "$T/bin/stoa"
export PATH="$T/bin:$PATH"
# shellcheck source=/dev/null
. "$SCRIPT"

# comp WORDS...: completes the last word (may be empty) as bash would; the
# candidates in $T/comp, one a line, sorted.
comp() {
  COMP_WORDS=(stoa "$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  _stoa
  printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort >"$T/comp"
}
# expect_comp WHAT WORD...: each WORD is among the candidates.
expect_comp() {
  local what=$1 w
  shift
  for w in "$@"; do
    grep -qxF -- "$w" "$T/comp" || fail "$what: '$w' not offered (offered: $(tr '\n' ' ' <"$T/comp"))"
  done
}
# expect_only WHAT WORD...: exactly these candidates.
expect_only() {
  local want
  want=$(printf '%s\n' "${@:2}" | sort)
  [ "$(cat "$T/comp")" = "$want" ] || fail "$1: offered '$(tr '\n' ' ' <"$T/comp")', expected '${*:2}'"
}

H="$T/h"
ok --home "$H" --quiet init --network "Completion Network" --country FR --no-passphrase --fast-kdf
ok --home "$H" add org --name "Café Solidaire" --country FR --type ngo
ID=$(head -1 "$OUT")

step "commands and global options"
ok --help
comp ""
expect_comp "commands" $(sed -n '/^Stoa keeps/,/^`stoa COMMAND/p' "$OUT" | awk '/^  [a-z]/ {print $1}')
comp "--"
expect_comp "global options" --home --json --quiet --passphrase-file
comp --home "$H" se
expect_only "a command after --home DIR" search

step "a command's options, and stoa add KIND's fields"
for c in export import init sketch ls; do
  ok "$c" --help
  comp "$c" "--"
  expect_comp "options of $c" $(sed '/^$/q' "$OUT" | grep -oE -- '--[a-z][a-z-]*' | sort -u)
done
comp add org --name "X Y" --
expect_comp "fields of org" --name --country --type --theme --member-of --from-json
comp add practice --
expect_comp "fields of practice" --title --summary --worked --failed --evidence

step "vocabularies and subcommands"
comp add ""
expect_only "kinds" org actor practice
comp export --format ""
expect_only "formats" bundle jsonl csv
comp ls --theme re
expect_only "themes" recruitment remittances research-data return-reintegration
comp add org --type gov
expect_only "org types" government
comp add practice --status ""
expect_only "practice status" planned ongoing completed discontinued
comp federation ""
expect_only "federation subcommands" show charter admit remove
comp key revoke --role ""
expect_only "roles" editor node

step "paths and ids"
mkdir "$T/dir1"
touch "$T/file1.bundle"
comp import "$T/file1"
expect_only "import: files" "$T/file1.bundle"
comp backup "$T/dir"
expect_only "backup: directories" "$T/dir1"
comp --home "$H" show ""
expect_comp "ids of the home's entries" "${ID:0:10}"

echo "completion: ok"
