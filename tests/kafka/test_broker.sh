#!/usr/bin/env bash
# test_broker.sh - the test broker script itself: two brokers started at once get distinct
# ports and directories, an independent client (kcat -L) lists each, stop removes
# everything; a broker that cannot start fails with its log tail and leaves nothing behind.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../support/service.sh" # fail, svc_start_two
svc_start_two "$here/broker.sh" PHONEREPORT_TEST_BROKERS PR_KAFKA_DIR
ba=$addr_a da=$dir_a bb=$addr_b db=$dir_b
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
