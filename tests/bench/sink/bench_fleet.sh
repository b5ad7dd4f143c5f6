#!/usr/bin/env bash
# bench_fleet.sh - fleet search and summaries over the sink's API on a large fleet, beside the
# bare SQL of the same answers on the same store in the same run.
#
# Writes PHONES phones (default 100,000) of the real 8832 profile into a fresh store through
# the sink's own apply path (bench_fleet_fill: values that a search looks for varied per
# phone), starts `phonereport run` on that store (embedded broker, nothing to consume), then
# times each request below, one at a time (warm-up first), and prints p50 and p99 in ms beside
# the same answer read with bare SQL (Python's sqlite3 or psycopg2 on the same store) and the
# ratio API/bare:
#   indexed     /v1/phones?param.Proxy_1_=proxy7.example.net&limit=100  (1/20 of the fleet)
#   unique      /v1/phones?param.User_ID_1_=<one phone's>                (one phone)
#   model       /v1/phones?model=CP-8841-3PCC&limit=100
#   unindexed   /v1/phones?param.Voice_Mail_Number=*7&limit=100          (a bounded scan)
#   fleet       /v1/fleet
#   values      /v1/params/Proxy_1_
# Targets (issue 18): an indexed parameter <= 50 ms, /v1/fleet <= 300 ms.
#
# A benchmark, not a test (not in ctest). Every process it starts is stopped on every exit path.
#
#   tests/bench/sink/bench_fleet.sh [--store sqlite|postgres] [PHONES=100000]
#
# Environment: PHONEREPORT_BIN and BENCH_FLEET_FILL (default: a Release build in
# build-bench-e2e/, built if missing), BENCH_FLEET_N (timed requests each, default 50),
# BENCH_FLEET_KEEP=1 keeps the work directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
store=sqlite
while [ $# -gt 0 ]; do
    case "$1" in
    --store) store=${2:?--store needs sqlite or postgres}; shift 2 ;;
    --store=*) store=${1#--store=}; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bench_fleet: unknown option $1 (see --help)" >&2; exit 64 ;;
    *) break ;;
    esac
done
phones=${1:-100000}
case "$store" in sqlite | postgres) ;; *) echo "bench_fleet: --store sqlite|postgres" >&2; exit 64 ;; esac
python3 -c 'import sqlite3' 2>/dev/null || { echo "bench_fleet: python3 sqlite3 missing" >&2; exit 1; }
if [ "$store" = postgres ]; then
    python3 -c 'import psycopg2' 2>/dev/null ||
        { echo "bench_fleet: python3-psycopg2 missing (scripts/setup-deps.sh bench)" >&2; exit 1; }
fi

bin=${PHONEREPORT_BIN:-}
fill=${BENCH_FLEET_FILL:-}
if [ -z "$bin" ] || [ -z "$fill" ]; then
    build="$repo/build-bench-e2e"
    bin=${bin:-$build/phonereport}
    fill=${fill:-$build/tests/bench/sink/bench_fleet_fill}
    if [ ! -x "$bin" ] || [ ! -x "$fill" ]; then
        echo "bench_fleet: building a Release phonereport and bench_fleet_fill in $build" >&2
        cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPR_SANITIZE=OFF \
            >/dev/null
        ninja -C "$build" -j2 phonereport bench_fleet_fill >/dev/null
    fi
fi

. "$repo/tests/support/pipeline.sh"
pl_init bench_fleet "${BENCH_FLEET_KEEP:-0}"
if [ "$store" = postgres ]; then
    pl_pg_start
    where=$pgurl
    run_store=(--sink-store "$pgurl")
else
    where=$work/data
    mkdir -p "$where"
    run_store=(--data-dir "$where")
fi

step "writing $phones phones into the $store store"
pl_run fill "$fill" "$phones" "$where" 2>"$work/fill.log" >"$work/fill.out" || { tail -5 "$work/fill.log" >&2; fail "bench_fleet_fill"; }
cat "$work/fill.out" >&2
port=$(pl_free_port)
pl_start run "$bin" run --api-listen "127.0.0.1:$port" --listen 127.0.0.1:0 "${run_store[@]}"
api="http://127.0.0.1:$port"
pl_wait_until 120 "the API" pl_http_ok "$api/readyz"

step "timing the requests (${BENCH_FLEET_N:-50} each, one at a time)"
python3 - "$api" "$store" "$where" "$phones" "${BENCH_FLEET_N:-50}" <<'PY'
import json, sys, time, urllib.error, urllib.request
api, store, where, phones, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
uid = 1000000 + phones // 2
if store == "sqlite":
    import sqlite3
    db = sqlite3.connect(f"file:{where}/sink.db?mode=ro", uri=True)
    ph = "?"
else:
    import psycopg2
    db = psycopg2.connect(where)
    db.set_session(readonly=True, autocommit=True)
    ph = "%s"

def sql(q, *args):
    cur = db.cursor()
    cur.execute(q.replace("?", ph), args)
    return cur.fetchall()

by_index = ("SELECT p.mac FROM pindex i JOIN phones p ON p.id = i.phone"
            " WHERE i.name = ? AND i.value = ? ORDER BY p.mac LIMIT 100")
cases = [
    ("indexed", "/v1/phones?param.Proxy_1_=proxy7.example.net&limit=100",
     lambda: sql(by_index, "Proxy_1_", "proxy7.example.net")),
    ("unique", f"/v1/phones?param.User_ID_1_={uid}",
     lambda: sql(by_index, "User_ID_1_", str(uid))),
    ("model", "/v1/phones?model=CP-8841-3PCC&limit=100",
     lambda: sql("SELECT mac FROM phones WHERE model = ? ORDER BY mac LIMIT 100", "CP-8841-3PCC")),
    ("unindexed", "/v1/phones?param.Voice_Mail_Number=*7&limit=100", None),
    ("fleet", "/v1/fleet",
     lambda: (sql("SELECT model, count(*) FROM phones GROUP BY model ORDER BY 2 DESC"),
              sql("SELECT firmware, count(*) FROM phones GROUP BY firmware ORDER BY 2 DESC"),
              sql("SELECT count(*), sum(complete) FROM phones"))),
    ("values", "/v1/params/Proxy_1_",
     lambda: sql("SELECT value, count(*) FROM pindex WHERE name = ? GROUP BY value"
                 " ORDER BY 2 DESC LIMIT 100", "Proxy_1_")),
]

def get(path):
    try:
        with urllib.request.urlopen(api + path, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

def timed(fn, k):
    ms = []
    for _ in range(k):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1000)
    ms.sort()
    return ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.99))]

print(f"bench_fleet: {phones} phones of the 8832 profile, store {store}; {n} requests each,"
      " one at a time; p50 / p99 in ms")
for name, path, bare in cases:
    status, body = get(path)
    if status != 200:
        print(f"  {name:10s} {path}: HTTP {status} {body[:200]!r}")
        continue
    doc = json.loads(body)
    items = doc.get("phones", doc.get("values")) if isinstance(doc, dict) else None
    got = len(items) if isinstance(items, list) else "a summary"
    for _ in range(3):
        get(path)
    p50, p99 = timed(lambda: get(path), n)
    line = f"  {name:10s} {p50:8.1f} / {p99:8.1f}  {path} ({got} in the answer"
    line += f", indexed {doc['indexed']})" if isinstance(doc, dict) and "indexed" in doc else ")"
    if bare:
        bare()
        b50, b99 = timed(bare, n)
        line += f"\n  {'':10s} {b50:8.1f} / {b99:8.1f}  bare SQL of the same answer; ratio API/bare p50 {p50 / max(b50, 0.001):.1f}"
    print(line)
PY
pl_stop run
