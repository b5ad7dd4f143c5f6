#!/usr/bin/env bash
# latency.sh - how long a report takes until the sink's API shows it, on an idle pipeline:
# ingest, one decoder and the sink as separate processes on the project's broker; a client
# (latency.py) PUTs one small configuration report a phone at a steady rate (default 10/s) and
# polls GET /v1/phones/{mac} until the phone is there; p50 and p99 of (shown - sent), per store.
# A benchmark, not a test (the lead runs it on a quiet machine).
#
#   tests/pg/pg.sh run -- tests/kafka/broker.sh run -- \
#       tests/bench/latency/latency.sh [--store sqlite|postgres|both] [REPORTS=200] [RATE=10]
#
# PHONEREPORT_BIN: the phonereport binary (default build-rel/phonereport, built when missing).
set -euo pipefail
top=$(cd "$(dirname "$0")/../../.." && pwd)
store=sqlite
if [ "${1:-}" = "--store" ]; then store=$2; shift 2; fi
reports=${1:-200}
rate=${2:-10}
brokers=${PHONEREPORT_TEST_BROKERS:?run under tests/kafka/broker.sh run --}
bin=${PHONEREPORT_BIN:-$top/build-rel/phonereport}
if [ ! -x "$bin" ]; then
    cmake -S "$top" -B "$top/build-rel" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    ninja -C "$top/build-rel" phonereport >/dev/null
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/pr-latency-XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run_one() { # store
    local st=$1
    local prefix="lat-$$-$st-$(date +%s%N | tail -c 8)." ingest_port api_port
    ingest_port=$(free_port)
    api_port=$(free_port)
    local common=(--brokers "$brokers" --topic-prefix "$prefix" --log-level warn)
    local where=(--data-dir "$work/sink-$st")
    if [ "$st" = postgres ]; then
        local base=${PHONEREPORT_TEST_PG:?--store postgres: run under tests/pg/pg.sh run --}
        local schema="lat_$$_$RANDOM"
        psql -X -q "$base" -c "CREATE SCHEMA $schema" >/dev/null
        where=(--sink-store "${base}?options=-csearch_path%3D$schema")
    fi
    "$bin" ingest "${common[@]}" --listen "127.0.0.1:$ingest_port" >>"$work/ingest-$st.log" 2>&1 &
    pids+=($!)
    "$bin" decode "${common[@]}" --decoder-group "${prefix}decoder" \
        --decoder-transactional-id "${prefix}decoder-1" >>"$work/decoder-$st.log" 2>&1 &
    pids+=($!)
    "$bin" sink "${common[@]}" "${where[@]}" --api-listen "127.0.0.1:$api_port" \
        --sink-group "${prefix}sink" >>"$work/sink-$st.log" 2>&1 &
    pids+=($!)
    python3 "$top/tests/bench/latency/latency.py" --store "$st" --ingest "127.0.0.1:$ingest_port" \
        --api "127.0.0.1:$api_port" --reports "$reports" --rate "$rate"
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    pids=()
}

case $store in
sqlite | postgres) run_one "$store" ;;
both) run_one sqlite; run_one postgres ;;
*) echo "latency: --store sqlite|postgres|both" >&2; exit 64 ;;
esac
