#!/usr/bin/env bash
# test_pg.sh - the test PostgreSQL script itself: two servers started at once get distinct
# ports and directories, an independent client (psql) reaches each, data survives a kill -9
# and a restart, stop removes everything; a server that cannot start fails with a message and
# leaves nothing behind.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../support/service.sh" # fail, svc_start_two
svc_start_two "$here/pg.sh" PHONEREPORT_TEST_PG PR_PG_DIR
ua=$addr_a da=$dir_a ub=$addr_b db=$dir_b
case "$ua" in postgresql://phonereport@127.0.0.1:*) ;; *) fail "not on loopback: $ua" ;; esac
psql "$ua" -qtAc "CREATE TABLE t (v int); INSERT INTO t VALUES (42)" || fail "psql cannot write to $ua"
[ "$(psql "$ub" -qtAc "SELECT count(*) FROM pg_tables WHERE tablename = 't'")" = 0 ] ||
    fail "the two servers share data"
"$here/pg.sh" kill "$da"
if psql "$ua" -qtAc "SELECT 1" >/dev/null 2>&1; then fail "$ua still answers after kill"; fi
"$here/pg.sh" start "$da" >/dev/null || fail "restart after kill -9 failed"
[ "$(psql "$ua" -qtAc "SELECT v FROM t")" = 42 ] || fail "committed data lost across kill -9"
"$here/pg.sh" stop "$da"
"$here/pg.sh" stop "$db"
trap - EXIT
[ ! -e "$da" ] && [ ! -e "$db" ] || fail "server directories left behind"
if psql "$ua" -qtAc "SELECT 1" >/dev/null 2>&1; then fail "$ua still answers after stop"; fi

# A server that cannot start fails loudly and leaves no directory behind.
log=$(mktemp)
count_dirs() { find "${TMPDIR:-/tmp}" -maxdepth 1 -name "pr-pg-*" | wc -l; }
before=$(count_dirs)
if PR_PG_BINDIR=/nonexistent "$here/pg.sh" start >/dev/null 2>"$log"; then
    rm -f "$log"
    fail "pg.sh start succeeded without server binaries"
fi
grep -q "not found" "$log" || { cat "$log" >&2; rm -f "$log"; fail "no message on failure"; }
[ "$(count_dirs)" = "$before" ] || fail "directory left behind"
rm -f "$log"
echo "1 passed, 0 failed"
