# bash completion for stoa (installed as
# $datadir/bash-completion/completions/stoa; by hand: `. scripts/stoa.bash`).
#
# Commands, options, fields and vocabularies come from `stoa --help` and
# `stoa COMMAND --help` of the stoa found first in PATH, so they never
# drift from the binary; entry ids from `stoa ls`.

_stoa_help() { # _stoa_help ARGS...: the help text, cached per ARGS
  local a="$*"
  local key="_stoa_h_${a//[^a-z]/_}"
  if [[ -z ${!key+set} ]]; then
    printf -v "$key" '%s' "$(command stoa "$@" --help 2>/dev/null)"
  fi
  printf '%s\n' "${!key}"
}

_stoa() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  local i w cmd="" sub="" home=() npos=0
  COMPREPLY=()
  # The command, its first positional word, and --home, skipping options
  # and the values of those that take one.
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    case $w in
      --home) home=(--home "${COMP_WORDS[i+1]}"); ((i++)); continue ;;
      --passphrase-file|-o|--output|--charter|--network|--country|--federation|--from-json|--from-csv|\
      --format|--kind|--theme|--limit|--offset|--for|--since|--max-size|--symbols|--differences|\
      --role|--reason|--unset) ((i++)); continue ;;
      --*=*|-*) continue ;;
    esac
    # An entry field's option takes a value too (add/edit --FIELD VALUE).
    if [[ $cmd == add || $cmd == edit ]] && [[ ${COMP_WORDS[i-1]} == --* ]]; then continue; fi
    if [[ -z $cmd ]]; then cmd=$w; else ((npos++)); [[ -z $sub ]] && sub=$w; fi
  done

  case $prev in
    --home) mapfile -t COMPREPLY < <(compgen -d -- "$cur"); return ;;
    --passphrase-file|-o|--output|--charter|--from-json|--from-csv|--for)
      mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
    --kind) mapfile -t COMPREPLY < <(compgen -W "org actor practice" -- "$cur"); return ;;
    --format) mapfile -t COMPREPLY < <(compgen -W "bundle jsonl csv" -- "$cur"); return ;;
    --role) mapfile -t COMPREPLY < <(compgen -W "editor node" -- "$cur"); return ;;
    --theme)
      mapfile -t COMPREPLY < <(compgen -W "$(_stoa_help ls | sed -n '/^Themes/,$p' | tail -n +2 | tr -d ',')" -- "$cur")
      return ;;
  esac
  # The words an enum field takes: the lines under its option in the help.
  if [[ ($cmd == add || $cmd == edit) && $prev == --* ]]; then
    local h
    h=$(_stoa_help "$cmd" ${sub:+"$sub"})
    if grep -q -- "^  $prev " <<<"$h"; then
      local words
      words=$(awk -v o="  $prev " 'index($0, o) == 1 {f = 1; next} f && /^                    +[a-z]/ {gsub(",", ""); print; next} {f = 0}' <<<"$h")
      [[ -n $words ]] && mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
      return
    fi
  fi

  if [[ -z $cmd ]]; then
    if [[ $cur == -* ]]; then
      mapfile -t COMPREPLY < <(compgen -W "--home --json --quiet --passphrase-file --help --version" -- "$cur")
    else
      mapfile -t COMPREPLY < <(compgen -W "$(_stoa_help | awk '/^  [a-z]/ {print $1}')" -- "$cur")
    fi
    return
  fi
  if [[ $cur == -* ]]; then
    local h
    if [[ $cmd == add && -n $sub ]]; then h=$(_stoa_help add "$sub"); else h=$(_stoa_help "$cmd"); fi
    mapfile -t COMPREPLY < <(compgen -W "$(grep -oE -- '--[a-z][a-z-]*' <<<"$h" | sort -u) --help" -- "$cur")
    return
  fi
  case $cmd in
    add) ((npos == 0)) && mapfile -t COMPREPLY < <(compgen -W "org actor practice" -- "$cur") ;;
    federation) ((npos == 0)) && mapfile -t COMPREPLY < <(compgen -W "show charter admit remove" -- "$cur") ;;
    key) ((npos == 0)) && mapfile -t COMPREPLY < <(compgen -W "endorse revoke" -- "$cur") ;;
    peer) ((npos == 0)) && mapfile -t COMPREPLY < <(compgen -W "add remove" -- "$cur") ;;
    import) mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
    backup|restore) mapfile -t COMPREPLY < <(compgen -d -- "$cur") ;;
    show|log|edit|erase)
      ((npos == 0)) && mapfile -t COMPREPLY < <(compgen -W \
        "$(command stoa "${home[@]}" ls --limit 200 2>/dev/null | awk '{print $1}')" -- "$cur") ;;
  esac
}
complete -F _stoa stoa
