#!/usr/bin/env bash
# pg_hung.sh - a PostgreSQL server that stops answering without closing (its postmaster stopped
# by SIGSTOP: the kernel still accepts the TCP connection, nothing answers the start-up) must
# not block the sink for ever: its connect time-out (10 s by default, connect_timeout in the
# connection string) ends the attempt and `phonereport sink` exits 75 (not reachable yet), so
# an orchestrator retries. Before: the sink waited for the start-up answer for ever (the
# deadline below ran out). Its own server (tests/pg/pg.sh start), as it stops it.
#   pg_hung.sh PATH/TO/phonereport
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../support/timeout.sh"
B=$(realpath "$1")
pgsh="$here/../../pg/pg.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
out=$("$pgsh" start) || fail "pg.sh start"
eval "$out"
pgdir=$PR_PG_DIR
pid=$(head -n 1 "$pgdir/data/postmaster.pid")
work=$(mktemp -d)
cleanup() { kill -CONT "$pid" 2>/dev/null; "$pgsh" stop "$pgdir" >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT

kill -STOP "$pid" || fail "cannot stop the postmaster"
# Default time-out: the sink gives up on its own (exit 75), within the test's deadline.
"$B" sink --brokers 127.0.0.1:1 --api-listen 127.0.0.1:0 --sink-store "$PHONEREPORT_TEST_PG" \
    >"$work/out" 2>"$work/err" &
spid=$!
deadline=$((SECONDS + $(pr_scaled 60)))
while kill -0 $spid 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
if kill -0 $spid 2>/dev/null; then
    kill -9 $spid
    fail "the sink still waits for a stopped server after $(pr_scaled 60) s"
fi
wait $spid
rc=$?
[ "$rc" = 75 ] || { cat "$work/err" >&2; fail "exit $rc, wanted 75 (store not reachable yet)"; }
grep -q 'timeout expired\|cannot connect' "$work/err" || { cat "$work/err" >&2; fail "no connect error logged"; }
# The connection string overrides the default (connect_timeout=1 here).
"$B" sink --brokers 127.0.0.1:1 --api-listen 127.0.0.1:0 \
    --sink-store "$PHONEREPORT_TEST_PG?connect_timeout=1" >"$work/out" 2>"$work/err"
rc=$?
[ "$rc" = 75 ] || { cat "$work/err" >&2; fail "override: exit $rc, wanted 75"; }
kill -CONT "$pid"
echo "pg_hung: ok"
