#!/usr/bin/env bash
# install.sh - what `meson install` puts where (docs/operations.md): into a
# scratch DESTDIR, the two programs (which run from there), the man pages
# (when scdoc built them), the bash completion, and the systemd unit with
# this build's paths, of the Type the daemon supports, checked by
# systemd-analyze when the machine has it.
. "$(dirname "$0")/cli/lib.sh"

: "${BUILD_ROOT:?BUILD_ROOT must name the build directory}"
: "${MESON:?MESON must name meson}"
D="$T/root"

step "meson install into a scratch DESTDIR"
run "$MESON" install -C "$BUILD_ROOT" --destdir "$D" --no-rebuild --quiet
[ "$RC" -eq 0 ] || fail "meson install failed"
prefix=$(python3 -c 'import json, sys
print([o["value"] for o in json.load(open(sys.argv[1])) if o["name"] == "prefix"][0])' \
  "$BUILD_ROOT/meson-info/intro-buildoptions.json")
R="$D$prefix"
echo "    prefix $prefix"

step "the programs, installed, run"
for p in stoa stoad; do
  [ -x "$R/bin/$p" ] || fail "$prefix/bin/$p is not installed"
done
run "$R/bin/stoa" --help
[ "$RC" -eq 0 ] || fail "the installed stoa does not run"
expect_out_contains "compact"
run "$R/bin/stoad" --help
[ "$RC" -eq 0 ] || fail "the installed stoad does not run"

step "man pages and completion"
if [ -f "$BUILD_ROOT/docs/man/stoa.1" ]; then
  for m in man1/stoa.1 man8/stoad.8 man5/stoa.ini.5; do
    [ -s "$R/share/man/$m" ] || fail "$m is not installed"
  done
else
  echo "    (scdoc is missing: no man pages built, none installed)"
fi
[ -s "$R/share/bash-completion/completions/stoa" ] || fail "the bash completion is not installed"

step "the systemd unit names the installed daemon"
U="$R/lib/systemd/system/stoad.service"
[ -s "$U" ] || fail "stoad.service is not installed"
grep -qx "ExecStart=$prefix/bin/stoad" "$U" || fail "ExecStart is not $prefix/bin/stoad: $(grep ExecStart "$U")"
grep -qx "ExecReload=$prefix/bin/stoad --check" "$U" || fail "the reload does not check the settings first"
grep -q '@[A-Z]*@' "$U" && fail "a placeholder was left in the unit: $(grep '@[A-Z]*@' "$U")"
if grep -q '^#define HAVE_SYSTEMD 1' "$BUILD_ROOT/config.h"; then want=notify; else want=simple; fi
grep -qx "Type=$want" "$U" || fail "the unit is not Type=$want (daemon built with libsystemd: $want)"
if command -v systemd-analyze >/dev/null; then
  # Pointed at the DESTDIR's daemon, which must exist and be executable.
  sed "s|=$prefix/bin/|=$R/bin/|" "$U" >"$T/stoad.service"
  run systemd-analyze --man=no verify "$T/stoad.service"
  [ "$RC" -eq 0 ] && [ ! -s "$ERR" ] || fail "systemd-analyze finds fault with the unit"
else
  echo "    (no systemd-analyze here: the unit's syntax is not checked)"
fi
echo "install: all checks passed"
