#!/usr/bin/env bash
# config.sh - stoad and its stoa.ini (docs/config.md).  A bad value stops
# the start (exit 2) with the section, key and value named; an unknown key
# is said and ignored; a home is found as `stoa` finds it, and a directory
# that holds no node is refused without a store made in it; log_level
# takes error|warn|info|debug, and a SIGHUP applies a new one; a changed
# listen address is said to wait for the next start.  `stoad --check`
# reports the same problems without starting, and 0 on a ready home.
. "$(dirname "$0")/lib.sh"

found A "Config Federation"
INI="$T/A/stoa.ini"
cp "$INI" "$T/ini.orig"

# with_ini SECTION KEY VALUE: A's stoa.ini with that setting added.
with_ini() {
  cp "$T/ini.orig" "$INI"
  printf '\n[%s]\n%s = %s\n' "$1" "$2" "$3" >>"$INI"
}
# start_bad WHAT: stoad on A exits 2 at once, naming the setting.
start_bad() {
  run timeout 20 "$STOAD" --home "$T/A" --listen "$(addr A)"
  expect_rc 2
  expect_err_contains "$1"
}

step "bad values stop the start, each named"
while IFS='|' read -r sec key val; do
  with_ini "$sec" "$key" "$val"
  start_bad "[$sec] $key = $val: invalid value"
done <<'EOF'
node|log_level|verbose
node|sync_interval|300s
node|max_connections|0
node|listen|localhost:7420
node|listen|127.0.0.1
node|hub|maybe
node|compression|99
limits|peer_rx_rate|15k
limits|handshake_timeout|10s
limits|max_memory|1T
EOF
[ ! -e "$T/A/stoad.sock" ] || fail "a refused start left a control socket"

step "stoad --check says the same, and exits 0 on a home that is ready"
with_ini node log_level verbose
run "$STOAD" --home "$T/A" --check
expect_rc 2
expect_err_contains "[node] log_level = verbose: invalid value"
cp "$T/ini.orig" "$INI"
run "$STOAD" --home "$T/A" --check
expect_rc 0
expect_out_contains "is ready"
run "$STOAD" --home "$T/A" --listen localhost:7420 --check
expect_rc 2
expect_err_contains "numeric address"
run "$STOAD" --home "$T/nothing-here" --check
expect_rc 1
expect_err_contains "no node home"
[ ! -e "$T/A/stoad.sock" ] || fail "--check opened a control socket"

step "an unknown key is said and ignored; peer_rx_rate takes 16k"
cp "$T/ini.orig" "$INI"
printf '\n[node]\nsync_intervall = 60\n[limits]\npeer_rx_rate = 16k\n' >>"$INI"
node_start A
grep -q "\[node\] sync_intervall: unknown setting, ignored" "$T/A.log" || fail "the unknown key was not reported"
node_stop A

step "a home is found as stoa finds it; a directory without a node is refused"
mkdir -p "$T/xdg/stoa" "$T/fakehome"
run env STOA_HOME= XDG_DATA_HOME="$T/xdg" HOME="$T/fakehome" timeout 20 "$STOAD" --listen "$(addr A)"
expect_rc 1
expect_err_contains "no node home at $T/xdg/stoa"
[ ! -e "$T/xdg/stoa/store" ] || fail "stoad made a store in a directory without a node"
run env -u STOA_HOME XDG_DATA_HOME= HOME="$T/fakehome" timeout 20 "$STOAD" --listen "$(addr A)"
expect_rc 1
expect_err_contains "no node home at $T/fakehome/.local/share/stoa"
[ ! -e "$T/fakehome/.local" ] || fail "stoad made directories in a home without a node"

step "log_level = error, then debug at a SIGHUP; a new listen waits for the next start"
# since: A's log from this start on.
with_ini node log_level error
node_start A
FROM=$(grep -n "^==== start" "$T/A.log" | tail -1 | cut -d: -f1)
since() { tail -n +"$FROM" "$T/A.log"; }
add_org A Quietword
sleep 1
since | grep -q "stoad info" && fail "log_level = error, and info lines were written"
with_ini node log_level debug
printf 'listen = 127.0.0.1:1\n' >>"$INI"
kill -HUP "${PID[A]}"
wait_until "info lines again after the reload" eval 'since | grep -q "stoad info: configuration reloaded"'
# An inbound connection is logged at debug level.
poke() { (exec 3<>"/dev/tcp/127.0.0.1/${PORT[A]}") 2>/dev/null; since | grep -q "stoad debug"; }
wait_until "a debug line after the reload" poke
since | grep -q "listen changes at the next start" || fail "a changed listen was not said"
node_stop A

echo "PASS $TEST_NAME"
