#!/usr/bin/env bash
# help.sh - what `--help` says is what the commands take.  Every command
# that `stoa --help` lists answers `stoa COMMAND --help` with its usage;
# every option a usage line names is accepted by the command (never
# "unknown/unexpected argument"); `stoa add KIND --help` lists each field
# of the kind as an option with a value placeholder, and an entry written
# with every listed option (sample values by placeholder, the first word of
# each vocabulary) is stored with every field; the fields marked required
# are exactly those without which `add` fails.
. "$(dirname "$0")/lib.sh"

H="$T/h"
ok --home "$H" --quiet init --network "Help Network" --country FR --no-passphrase --fast-kdf

step "every command of stoa --help has a usage of its own"
ok --help
CMDS=$(sed -n '/^Stoa keeps/,/^`stoa COMMAND/p' "$OUT" | awk '/^  [a-z]/ {print $1}')
[ "$(echo "$CMDS" | wc -w)" -ge 20 ] || fail "stoa --help lists only: $CMDS"
for c in $CMDS; do
  ok "$c" --help
  expect_out_contains "usage: stoa $c"
done

step "every option a usage names is one the command takes"
# The options of each usage (its first lines, up to the blank line), tried
# one at a time with a value: the command may refuse the value or the
# combination, never the option itself.
for c in $CMDS; do
  ok "$c" --help
  opts=$(sed '/^$/q' "$OUT" | grep -oE -- '(^|[ [|])--?[a-z][a-z-]*' | sed 's/^[ [|]//' | sort -u)
  # Subcommands ("charter", "endorse|revoke"): an option may belong to one.
  subs=$(sed '/^$/q' "$OUT" | sed "s/^usage: stoa $c//" | tr ' []' '\n\n\n' |
         grep -E '^[a-z]+(\|[a-z]+)*$' | tr '|' '\n' | sort -u)
  for o in $opts; do
    case "$o" in --help|-h) continue ;; esac
    taken=no
    for sub in "" $subs; do
      s --home "$H" "$c" $sub "$o" x </dev/null
      grep -iE "unknown|unexpected|has no field" "$ERR" | grep -qF -- "$o" || { taken=yes; break; }
    done
    [ "$taken" = yes ] || fail "stoa $c --help names $o, which stoa $c does not take"
  done
done

step "stoa add KIND --help lists the fields, and an entry using every one is stored whole"
ok --home "$H" add org --name "Réseau Référence" --country FR --type network
REF=$(head -1 "$OUT")
for kind in org actor practice; do
  ok add "$kind" --help
  cp "$OUT" "$T/help.$kind"
  # Lines "  --opt ARG[...] [*]   help", then for an enum the words it takes.
  python3 - "$T/help.$kind" "$REF" >"$T/args.$kind" <<'EOF'
import re, sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
ref = sys.argv[2]
sample = {"TEXT": "Exemple d'entrée", "CC": "FR", "THEME": "remittances", "LANG": "fr",
          "URL": "https://example.org/a", "EMAIL": "contact@example.org", "PHONE": "+33 1 23 45 67 89",
          "N": "1999", "true|false": "true", "PERIOD": "2001-2003", "ID": ref}
out = []
for i, l in enumerate(lines):
    m = re.match(r"^  --([a-z-]+) (\S+?)(\.\.\.)?( \*)?\s{2,}", l)
    if not m:
        continue
    opt, arg, lst, req = m.groups()
    if arg == "WORD":
        val = lines[i + 1].strip().split(",")[0]
    else:
        val = sample[arg]
    out.append("%s\t%s\t%s" % (opt, val, "req" if req else "opt"))
print("\n".join(out))
EOF
  [ -s "$T/args.$kind" ] || fail "stoa add $kind --help lists no field"
  args=()
  while IFS=$'\t' read -r opt val req; do args+=("--$opt" "$val"); done <"$T/args.$kind"
  ok --home "$H" add "$kind" "${args[@]}"
  ID=$(head -1 "$OUT")
  ok --home "$H" --json show "$ID"
  nfields=$(json 'len([k for k in d if k not in ("id", "kind", "owner", "signer", "ts", "hash", "versions", "erased")])')
  expect_eq "$kind: fields stored from every listed option" "$nfields" "$(wc -l <"$T/args.$kind")"

  # Required: exactly the starred fields.  With only them, add works; each
  # one left out, add fails naming it.
  req=()
  while IFS=$'\t' read -r opt val r; do [ "$r" = req ] && req+=("--$opt" "$val"); done <"$T/args.$kind"
  ok --home "$H" add "$kind" "${req[@]}"
  for ((k = 0; k < ${#req[@]}; k += 2)); do
    less=("${req[@]:0:k}" "${req[@]:k+2}")
    s --home "$H" add "$kind" "${less[@]}"
    [ "$RC" -ne 0 ] || fail "$kind: add without ${req[k]} (marked required) worked"
  done
done

step "stoa add --help without a kind lists all three; ls and search list the themes"
ok add --help
for kind in org actor practice; do expect_out_contains "Fields of $kind"; done
for c in ls search; do
  ok "$c" --help
  expect_out_contains "remittances"
done

echo "help: ok"
