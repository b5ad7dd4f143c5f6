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
# Environment: PHONEREPORT_BIN (default: a Release build in build-bench/, built if missing),
# BENCH_DURATION (default 15s), BENCH_CONNECTIONS (default 128), BENCH_THREADS (wrk threads,
# default 2).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
duration=${BENCH_DURATION:-15s}
conns=${BENCH_CONNECTIONS:-128}
wthreads=${BENCH_THREADS:-2}

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
eval "$(PR_KAFKA_HEAP=${PR_KAFKA_HEAP:-512m} "$repo/tests/kafka/broker.sh" start)"

iport=$(free_port)
"$bin" ingest --brokers "$PHONEREPORT_TEST_BROKERS" --topic-prefix "bench$$." \
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
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/logs/error.log" &
nginx_pid=$!
wait_http "http://127.0.0.1:$nport/" 204 30

run_wrk() { # name port -> prints "rps p50 p99 non2xx total"
    wrk -t"$wthreads" -c"$conns" -d3s -s "$here/put-delta.lua" "http://127.0.0.1:$2" >/dev/null
    wrk -t"$wthreads" -c"$conns" -d"$duration" --latency -s "$here/put-delta.lua" \
        "http://127.0.0.1:$2" >"$work/$1.wrk"
    python3 - "$work/$1.wrk" <<'PY'
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

echo "bench.sh: wrk -t$wthreads -c$conns -d$duration, PUT 1 KB deltas, 1000 phones" >&2
read -r i_rps i_p50 i_p99 i_bad i_total < <(run_wrk ingest "$iport")
read -r n_rps n_p50 n_p99 n_bad n_total < <(run_wrk nginx "$nport")
published=$(curl -s "http://127.0.0.1:$iport/metrics" |
    awk '/^phonereport_ingest_published_total/ {print $2}')

printf '\n%-8s %10s %10s %10s %10s %10s\n' target "req/s" "p50 ms" "p99 ms" requests non-2xx
printf '%-8s %10s %10s %10s %10s %10s\n' ingest "$i_rps" "$i_p50" "$i_p99" "$i_total" "$i_bad"
printf '%-8s %10s %10s %10s %10s %10s\n' nginx "$n_rps" "$n_p50" "$n_p99" "$n_total" "$n_bad"
python3 -c "print(f'ratio ingest/nginx req/s: {$i_rps / $n_rps:.2f}')"
echo "records acknowledged by Kafka (ingest metric, incl. warm-up): ${published:-?}"
echo "machine: $(nproc) CPUs shared by broker, ingest, nginx and wrk"
