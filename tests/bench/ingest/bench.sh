#!/usr/bin/env bash
# bench.sh - how fast is the ingest edge next to a web server that does nothing?
#
# Starts a private Kafka broker (tests/kafka/broker.sh), `phonereport ingest` on a free port,
# and nginx (Debian nginx-light) with a private prefix whose only location answers
# `return 204`; then wrk PUTs 1 KB delta reports with Cisco User-Agents (put-delta.lua)
# against each in turn and prints req/s, p50/p99 latency and the ratio ingest/nginx.
# ingest answers 200 only after Kafka acked the record (acks=all, idempotent), so the
# comparison is "durable edge" against "no work at all". A benchmark, not a test.
#
# The machine is usually shared, so the two targets are measured in alternating rounds and
# the median round of each is reported.
#
# Fairness: the broker's JVM runs the full tiered JIT (C1+C2, as a production broker does;
# the tests' broker stops at C1 to start fast, which roughly doubles its CPU per record), and
# each target gets a warm-up of BENCH_WARMUP before the rounds, so that C2 has compiled the
# produce path. No CPU pinning by default: wrk, nginx, ingest and the broker share the CPUs;
# BENCH_WRK_CPUS / BENCH_SERVER_CPUS (taskset lists) pin wrk, and nginx / ingest / broker,
# the same way for both targets. The settings used are printed with the results.
#
# Environment: PHONEREPORT_BIN (default: a Release build in build-bench/, built if missing),
# BENCH_DURATION per round (default 10s), BENCH_ROUNDS (default 3), BENCH_CONNECTIONS
# (default 128), BENCH_THREADS (wrk threads, default 2), BENCH_WARMUP (default 10s),
# PR_KAFKA_JVM_OPTS (default -XX:+TieredCompilation), BENCH_WRK_CPUS, BENCH_SERVER_CPUS.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
duration=${BENCH_DURATION:-10s}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNECTIONS:-128}
wthreads=${BENCH_THREADS:-2}
warmup=${BENCH_WARMUP:-10s}
export PR_KAFKA_JVM_OPTS=${PR_KAFKA_JVM_OPTS:--XX:+TieredCompilation}
wrk_pin=()
srv_pin=()
[ -n "${BENCH_WRK_CPUS:-}" ] && wrk_pin=(taskset -c "$BENCH_WRK_CPUS")
[ -n "${BENCH_SERVER_CPUS:-}" ] && srv_pin=(taskset -c "$BENCH_SERVER_CPUS")

for tool in wrk nginx curl kcat python3; do
    command -v "$tool" >/dev/null || { echo "bench.sh: $tool not found" >&2; exit 1; }
done

bin=${PHONEREPORT_BIN:-}
if [ -z "$bin" ]; then
    bin="$repo/build-bench/phonereport"
    if [ ! -x "$bin" ]; then
        echo "bench.sh: building a Release phonereport in $repo/build-bench" >&2
        cmake -S "$repo" -B "$repo/build-bench" -G Ninja -DCMAKE_BUILD_TYPE=Release \
            -DPR_SANITIZE=OFF -DPR_TESTS=OFF >/dev/null
        ninja -C "$repo/build-bench" -j2 phonereport >/dev/null
    fi
fi

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

work=$(mktemp -d "${TMPDIR:-/tmp}/pr-bench-XXXXXX")
ingest_pid=""
nginx_pid=""
PR_KAFKA_DIR=""
cleanup() {
    [ -n "$ingest_pid" ] && kill -TERM "$ingest_pid" 2>/dev/null && wait "$ingest_pid" 2>/dev/null
    [ -n "$nginx_pid" ] && kill -QUIT "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
    [ -n "$PR_KAFKA_DIR" ] && "$repo/tests/kafka/broker.sh" stop "$PR_KAFKA_DIR"
    rm -rf "$work"
}
trap cleanup EXIT

wait_http() { # url want-status seconds
    local deadline=$((SECONDS + $3))
    while [ $SECONDS -lt $deadline ]; do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" = "$2" ] && return 0
        sleep 0.2
    done
    echo "bench.sh: $1 did not answer $2" >&2
    return 1
}

echo "bench.sh: starting Kafka" >&2
eval "$(PR_KAFKA_HEAP=${PR_KAFKA_HEAP:-512m} "${srv_pin[@]}" "$repo/tests/kafka/broker.sh" start)"

iport=$(free_port)
"${srv_pin[@]}" "$bin" ingest --brokers "$PHONEREPORT_TEST_BROKERS" --topic-prefix "bench$$." \
    --listen "127.0.0.1:$iport" --log-level warn 2>"$work/ingest.log" &
ingest_pid=$!
wait_http "http://127.0.0.1:$iport/readyz" 200 120

nport=$(free_port)
mkdir -p "$work/nginx/logs"
cat >"$work/nginx/nginx.conf" <<CONF
daemon off;
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_max_body_size 4m;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    server {
        listen 127.0.0.1:$nport;
        location / { return 204; }
    }
}
CONF
"${srv_pin[@]}" nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/logs/error.log" &
nginx_pid=$!
wait_http "http://127.0.0.1:$nport/" 204 30

run_wrk() { # name port round -> appends "rps p50 p99 non2xx total" to $work/name.results
    "${wrk_pin[@]}" wrk -t"$wthreads" -c"$conns" -d"$duration" --latency -s "$here/put-delta.lua" \
        "http://127.0.0.1:$2" >"$work/$1.$3.wrk"
    python3 - "$work/$1.$3.wrk" >>"$work/$1.results" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
p50 = ms(re.search(r"\s50%\s+(\S+)", t).group(1))
p99 = ms(re.search(r"\s99%\s+(\S+)", t).group(1))
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
total = re.search(r"(\d+) requests in", t).group(1)
print(f"{rps:.0f} {p50:.2f} {p99:.2f} {bad.group(1) if bad else 0} {total}")
PY
}

echo "bench.sh: warm-up $warmup each, then $rounds rounds of wrk -t$wthreads -c$conns -d$duration, PUT 1 KB deltas, 1000 phones" >&2
for port in "$iport" "$nport"; do # warm-up
    "${wrk_pin[@]}" wrk -t"$wthreads" -c"$conns" -d"$warmup" -s "$here/put-delta.lua" \
        "http://127.0.0.1:$port" >/dev/null
done
for round in $(seq 1 "$rounds"); do
    run_wrk ingest "$iport" "$round"
    run_wrk nginx "$nport" "$round"
done
metrics=$(curl -s "http://127.0.0.1:$iport/metrics")
published=$(awk '/^phonereport_ingest_published_total/ {print $2}' <<<"$metrics")
refused=$(awk '/^phonereport_ingest_(unavailable_total|requests_total)/ && !/status="200"/ && !/kind="none"/ && $2 != 0 {printf "%s ", $0}' <<<"$metrics")
[ -n "$refused" ] && echo "bench.sh: uploads ingest answered other than 200 (incl. warm-up): $refused" >&2

setup="wrk -t$wthreads -c$conns -d$duration x $rounds rounds (warm-up $warmup); broker JVM: $PR_KAFKA_JVM_OPTS"
setup+="; CPU pinning: ${BENCH_WRK_CPUS:+wrk on $BENCH_WRK_CPUS, }${BENCH_SERVER_CPUS:+nginx/ingest/broker on $BENCH_SERVER_CPUS}"
[ -z "${BENCH_WRK_CPUS:-}${BENCH_SERVER_CPUS:-}" ] && setup+="none (applied alike to both targets)"
python3 - "$work/ingest.results" "$work/nginx.results" "${published:-?}" "$(nproc)" "$setup" <<'PY'
import sys
def load(path):
    rows = [list(map(float, l.split())) for l in open(path) if l.strip()]
    rows.sort(key=lambda r: r[0])
    return rows
ing, ngx = load(sys.argv[1]), load(sys.argv[2])
mi, mn = ing[len(ing) // 2], ngx[len(ngx) // 2]
print(f"\n{'target':8} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'non-2xx':>9}   rounds (req/s)")
for name, m, rows in (("ingest", mi, ing), ("nginx", mn, ngx)):
    allr = " ".join(f"{r[0]:.0f}" for r in rows)
    bad = sum(int(r[3]) for r in rows)
    print(f"{name:8} {m[0]:10.0f} {m[1]:9.2f} {m[2]:9.2f} {bad:9d}   {allr}")
print(f"ratio ingest/nginx req/s (medians): {mi[0] / mn[0]:.2f}")
print(f"records acknowledged by Kafka (ingest metric, incl. warm-up): {sys.argv[3]}")
print(f"machine: {sys.argv[4]} CPUs shared by broker, ingest, nginx and wrk")
print(f"setup: {sys.argv[5]}")
PY
