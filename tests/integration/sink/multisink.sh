#!/usr/bin/env bash
# multisink.sh - sinks that scale out: three `phonereport sink` processes of one consumer group
# sharing one real PostgreSQL store, fed by an ingest and a decoder process on the real broker
# and a simulated fleet (tests/phonesim), while the group changes under them:
#   - kill -9 of one sink mid-run (its partitions move: first rebalance);
#   - a fourth sink added (second rebalance);
#   - one sink stopped with SIGSTOP past the session time-out (its partitions are reassigned and
#     claimed in the store), then SIGCONT: it is fenced, its pending batch never commits;
#   - the PostgreSQL server halted and started again (every sink pauses, /readyz fails,
#     /healthz answers, then they resume without loss).
#
#   multisink.sh PHONEREPORT_BINARY PHONEREPORT_SIM_BINARY
#
# Passes only if every report was acknowledged, `phonereport-sim verify` finds the exact state
# through EACH live sink's API (every sink answers for every phone), each phone's version is
# the number of its acknowledged configuration reports (nothing applied twice or skipped across
# the kill, the fencing and the outage), the stopped sink never committed after it lost its
# partitions (its log says it was fenced or its transaction failed, and the versions are
# exact), the sinks counted the outage (phonereport_sink_store_errors_total) and are up again
# (phonereport_sink_store_up 1), a store with a newer schema is refused with exit 78, and every
# sink then stops on SIGTERM with status 0 and no sanitizer report. Prints the store's bytes
# per phone.
#
# Needs PHONEREPORT_TEST_BROKERS (tests/kafka/broker.sh run -- ...): fails without it. Runs its
# own PostgreSQL server (tests/pg/pg.sh start), as it halts it.
# Knobs: PR_MS_PHONES (150), PR_MS_DURATION_S (60 x PR_TEST_TIMEOUT_SCALE), PR_MS_RATE (60),
# PR_MS_KEEP=1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../support/pipeline.sh"

pgsh="$here/../../pg/pg.sh"
pl_test multisink "${PR_MS_KEEP:-0}" "$@"
phones=${PR_MS_PHONES:-150}
duration=${PR_MS_DURATION_S:-$(pr_scaled 60)} # spans the steps, whose waits are scaled too
rate=${PR_MS_RATE:-60}

declare -A ports=()
pl_on_failure() { # what the store holds, for the log (the server is still up)
    { echo "offsets:"; psql -X -A "$pgurl" -c "TABLE offsets ORDER BY 1, 2";
      echo "partition_owner:"; psql -X -A "$pgurl" -c "TABLE partition_owner ORDER BY 1, 2";
      echo "mismatching phones:"; for mac in $(awk '/^MISMATCH/ {print $2}' "$work"/verify-*.log 2>/dev/null | sort -u); do
          psql -X -A "$pgurl" -c "SELECT mac, part, version, updated_at FROM phones WHERE mac = '$mac'"
          kcat -C -b "$brokers" -t "${prefix}config" -o beginning -e -q -f '%p %o %k\n' 2>/dev/null | grep "$mac"
      done; } >"$work/store-dump.txt" 2>&1
}
metric() { pl_metric "${ports[$1]}" "$2"; } # SINK NAME
phones_at_least() { [ "$(metric s3 phonereport_sink_phones)" -ge "$1" ]; }

step "PostgreSQL"
pl_pg_start
pl_roles "$bin" --log-level info
ingest_port=$(pl_free_port)
pl_sim_keys "$sim" "$phones" mixed

start_sink() { # NAME [extra options]
    local name=$1
    shift
    [ -n "${ports[$name]:-}" ] || ports[$name]=$(pl_free_port)
    pl_sink "$name" "${ports[$name]}" --sink-store "$pgurl" --kafka.session.timeout.ms=6000 \
        --kafka.heartbeat.interval.ms=1000 "$@"
}

step "ingest, decoder, three sinks on $pgurl"
pl_ingest ingest "$ingest_port"
pl_decoder decoder 1 --decoder-keystore "$work/keystore.json"
start_sink s1
# s2 keeps its batches open long: when it is stopped it most likely holds one.
start_sink s2 --sink-batch-time 2s
start_sink s3
pl_wait_until 120 "ingest /readyz" pl_http_ok "http://127.0.0.1:$ingest_port/readyz"
for s in s1 s2 s3; do
    pl_wait_until 120 "$s /healthz" pl_http_ok "http://127.0.0.1:${ports[$s]}/healthz"
done

step "playing $phones phones for ${duration}s at <= ${rate}/s"
pl_spawn play "$sim" play --url "http://127.0.0.1:$ingest_port/r" --phones "$phones" \
    --seed "$seed" --duration-s "$duration" --rate "$rate" --deltas 4 --status-every-s 8 \
    --method mixed --encrypt mixed --workers 8 --expect-out "$work/expect.json" \
    --stats-out "$work/play-stats.json" --journal-out "$work/journal.jsonl"

pl_wait_until 120 "the sinks to hold $((phones / 4)) phones" phones_at_least $((phones / 4))
step "kill -9 of s1 ($(metric s3 phonereport_sink_phones) phones held)"
pl_kill9 s1
sleep "$(pr_scaled 3)"
step "a fourth sink"
start_sink s4
pl_wait_until 120 "s4 /healthz" pl_http_ok "http://127.0.0.1:${ports[s4]}/healthz"
pl_wait_until 60 "s4 to be assigned partitions" pl_http_ok "http://127.0.0.1:${ports[s4]}/readyz"

step "SIGSTOP of s2 past the session time-out"
kill -STOP "${pids[s2]}"
sleep "$(pr_scaled 12)"
kill -CONT "${pids[s2]}"
step "SIGCONT of s2"
sleep 2

step "PostgreSQL halted"
"$pgsh" halt "$pgdir" || fail "pg.sh halt"
down_seen=0
for _ in $(seq 1 40); do
    if [ "$(pl_http_code "http://127.0.0.1:${ports[s3]}/readyz")" = 503 ]; then down_seen=1; break; fi
    sleep 0.25
done
[ "$down_seen" = 1 ] || fail "s3's /readyz did not fail while PostgreSQL was down"
pl_http_ok "http://127.0.0.1:${ports[s3]}/healthz" || fail "s3's /healthz failed during the outage"
sleep 2
step "PostgreSQL started again"
"$pgsh" start "$pgdir" >/dev/null || fail "pg.sh start (again)"
kill -0 "${pids[play]}" 2>/dev/null || fail "the fleet finished before the outage ended: not mid-run"

step "waiting for the fleet"
play_rc=0
pl_wait play || play_rc=$?
[ "$play_rc" = 0 ] || { cat "$work/play.log" >&2; fail "phonereport-sim play: reports not acknowledged"; }
cat "$work/play.log" >&2

for s in s2 s3 s4; do
    step "verify through $s"
    "$sim" verify --api "http://127.0.0.1:${ports[$s]}" --expect "$work/expect.json" \
        --timeout-s "$(pr_scaled 180)" >"$work/verify-$s.log" 2>&1 ||
        { head -n 40 "$work/verify-$s.log" >&2; fail "verify through $s found mismatches"; }
    tail -n 1 "$work/verify-$s.log" >&2
done

step "versions (nothing applied twice or skipped)"
"$py" - "$work" "${ports[s4]}" <<'PY' || fail "versions differ from the acknowledged reports"
import collections, json, sys, urllib.request
work, port = sys.argv[1], sys.argv[2]
stats = json.load(open(f"{work}/play-stats.json"))
journal = [json.loads(l) for l in open(f"{work}/journal.jsonl") if l.strip()]
exact = stats["retried"] == 0 and stats["maybe_delivered_retries"] == 0
want = collections.Counter(j["mac"] for j in journal if j["kind"] in ("full", "delta"))
complete = {j["mac"] for j in journal if j["kind"] == "full"}
bad = []
for mac, n in sorted(want.items()):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/phones/{mac}/config", timeout=10) as r:
        doc = json.load(r)
    if (exact and doc.get("version") != n) or (not exact and doc.get("version") < n) \
            or doc.get("complete") != (mac in complete):
        bad.append((mac, n, doc.get("version"), doc.get("complete")))
print(f"multisink: {len(want)} phones, {sum(want.values())} configuration reports, exact={exact}",
      file=sys.stderr)
if bad:
    print(f"multisink: {len(bad)} phones off (mac, want, version, complete): {bad[:5]}",
          file=sys.stderr)
sys.exit(1 if bad else 0)
PY

step "fencing, outage and recovery as the sinks saw them"
fenced=$(metric s2 phonereport_sink_fenced_total)
s2_failed=$(grep -c '"fenced: another sink owns the partition now"\|"batch commit failed\|"store unavailable' "$work/s2.log" || true)
echo "multisink: s2 fenced batches $fenced, failed or fenced transactions in its log $s2_failed" >&2
[ "$s2_failed" -ge 1 ] || fail "s2 resumed after SIGSTOP without a fenced or failed transaction"
errors=0
for s in s2 s3 s4; do
    errors=$((errors + $(metric "$s" phonereport_sink_store_errors_total)))
    [ "$(metric "$s" phonereport_sink_store_up)" = 1 ] || fail "$s: phonereport_sink_store_up is not 1"
    pl_http_ok "http://127.0.0.1:${ports[$s]}/readyz" || fail "$s is not ready after the outage"
done
[ "$errors" -ge 1 ] || fail "no sink counted the PostgreSQL outage (phonereport_sink_store_errors_total)"

bytes=$(psql -X -A -t "$pgurl" -c "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'") ||
    fail "psql"
held=$(metric s3 phonereport_sink_phones)
echo "multisink: store $bytes bytes for $held phones: $((bytes / (held > 0 ? held : 1))) bytes/phone" \
    "(tables, indexes and TOAST; this fleet's profiles)" >&2

step "a store with a newer schema is refused (exit 78)"
psql -X -q "$pgurl" -c "CREATE DATABASE future" >/dev/null || fail "psql create database"
future=${pgurl%/*}/future
psql -X -q "$future" -c "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
    INSERT INTO meta VALUES('schema', '99')" >/dev/null || fail "psql meta"
st=0
"$bin" sink "${PL_COMMON[@]}" --api-listen 127.0.0.1:0 --sink-store "$future" \
    >"$work/future.log" 2>&1 || st=$?
[ "$st" = 78 ] || { cat "$work/future.log" >&2; fail "a newer schema gave exit $st, not 78"; }
grep -q 'newer than this phonereport knows' "$work/future.log" || fail "no clear message for a newer schema"

step "stopping (SIGTERM)"
pl_stop ingest decoder s2 s3 s4
step "PASS"
