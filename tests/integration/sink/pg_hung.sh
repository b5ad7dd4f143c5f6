#!/usr/bin/env bash
# pg_hung.sh - a PostgreSQL server that stops answering without closing (its postmaster stopped
# by SIGSTOP: the kernel still accepts the TCP connection, nothing answers the start-up) must
# not block the sink for ever: its connect time-out (10 s by default, connect_timeout in the
# connection string) ends the attempt and `phonereport sink` exits 75 (not reachable yet), so
# an orchestrator retries. Before: the sink waited for the start-up answer for ever (the
# deadline below ran out). Then a server that freezes under a running sink (phase 2 below).
# Its own server (tests/pg/pg.sh start), as it stops it.
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

# 2. The server freezes under a running sink (postmaster and backends stopped): a statement
# already sent waits for an answer that never comes, and the kernel still acknowledges, so
# keepalives see a live peer. Every wait is bounded on the sink's side (statement_timeout and
# half again, at least 5 s more: 7 s here), so the API answers 503 (the store is unavailable) instead of hanging, and the
# sink connects again once the server wakes. Before: the request hung until curl gave up.
. "$here/../../support/service.sh"
[ -n "${PHONEREPORT_TEST_BROKERS:-}" ] || fail "PHONEREPORT_TEST_BROKERS is not set; run through" \
    "scripts/test.sh or tests/kafka/broker.sh run -- ctest ..."
port=$(svc_free_port)
api="http://127.0.0.1:$port"
"$B" sink --brokers "$PHONEREPORT_TEST_BROKERS" --topic-prefix "pghung$$." \
    --api-listen "127.0.0.1:$port" \
    --sink-store "$PHONEREPORT_TEST_PG?options=-cstatement_timeout%3D2s" \
    >"$work/out2" 2>"$work/err2" &
spid=$!
frozen=""
cleanup2() { [ -n "$frozen" ] && kill -CONT $frozen 2>/dev/null; kill -9 $spid 2>/dev/null; cleanup; }
trap cleanup2 EXIT
code() { curl -s -o /dev/null -w '%{http_code}' --max-time "$1" "$api$2" 2>/dev/null || true; }
deadline=$((SECONDS + $(pr_scaled 60)))
until [ "$(code 5 /v1/phones)" = 200 ]; do
    kill -0 $spid 2>/dev/null || { cat "$work/err2" >&2; fail "the sink ended before its API answered"; }
    [ $SECONDS -lt $deadline ] || { cat "$work/err2" >&2; fail "the sink's API never answered"; }
    sleep 0.2
done
frozen="$pid $(pgrep -P "$pid" | tr '\n' ' ')"
kill -STOP $frozen || fail "cannot stop the server's processes"
t0=$SECONDS
got=$(code "$(pr_scaled 60)" /v1/phones)
took=$((SECONDS - t0))
[ "$got" = 503 ] || { cat "$work/err2" >&2; fail "a frozen server: answer $got after $took s, wanted 503 (000: none)"; }
[ "$(code 5 /healthz)" = 200 ] || fail "/healthz did not answer while the server was frozen"
echo "frozen server: $got after $took s"
kill -CONT $frozen
frozen=""
deadline=$((SECONDS + $(pr_scaled 60)))
until [ "$(code 5 /v1/phones)" = 200 ]; do
    [ $SECONDS -lt $deadline ] || { cat "$work/err2" >&2; fail "the sink did not recover once the server woke"; }
    sleep 0.2
done
grep -q "no answer in time" "$work/err2" || { cat "$work/err2" >&2; fail "the lost connection was not logged"; }
kill -TERM $spid
wait $spid
echo "pg_hung: ok"
