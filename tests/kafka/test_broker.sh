#!/usr/bin/env bash
# test_broker.sh - the test broker script itself: two brokers started at once get distinct
# ports and directories, an independent client (kcat -L) lists each, stop removes
# everything; a broker that cannot start fails with its log tail and leaves nothing behind.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }

a=$(mktemp) b=$(mktemp)
"$here/broker.sh" start >"$a" & pa=$!
"$here/broker.sh" start >"$b" & pb=$!
wait $pa || fail "first broker did not start"
wait $pb || fail "second broker did not start"
ba=$(sed -n 's/^PHONEREPORT_TEST_BROKERS=//p' "$a"); da=$(sed -n 's/^PR_KAFKA_DIR=//p' "$a")
bb=$(sed -n 's/^PHONEREPORT_TEST_BROKERS=//p' "$b"); db=$(sed -n 's/^PR_KAFKA_DIR=//p' "$b")
rm -f "$a" "$b"
trap '"$here/broker.sh" stop "$da" || true; "$here/broker.sh" stop "$db" || true' EXIT
[ "$ba" != "$bb" ] || fail "both brokers got $ba"
[ "$da" != "$db" ] || fail "both brokers got directory $da"
case "$ba" in 127.0.0.1:*) ;; *) fail "not on loopback: $ba" ;; esac
kcat -L -b "$ba" -m 10 | grep -q "broker 1 at $ba" || fail "kcat does not list $ba"
kcat -L -b "$bb" -m 10 | grep -q "broker 1 at $bb" || fail "kcat does not list $bb"
pid=$(cat "$da/pid")
"$here/broker.sh" stop "$da"
"$here/broker.sh" stop "$db"
trap - EXIT
[ ! -e "$da" ] && [ ! -e "$db" ] || fail "broker directories left behind"
! kill -0 "$pid" 2>/dev/null || fail "broker process $pid still running after stop"
if kcat -L -b "$ba" -m 2 >/dev/null 2>&1; then fail "$ba still answers after stop"; fi

# A broker that cannot start (a heap too small for the JVM) fails loudly.
log=$(mktemp)
if PR_KAFKA_HEAP=1k "$here/broker.sh" start >/dev/null 2>"$log"; then
    rm -f "$log"
    fail "broker.sh start succeeded with an impossible heap"
fi
grep -q "log tail" "$log" || { cat "$log" >&2; rm -f "$log"; fail "no log tail printed on failure"; }
rm -f "$log"
echo "1 passed, 0 failed"
