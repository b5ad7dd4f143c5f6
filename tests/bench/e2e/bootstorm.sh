#!/usr/bin/env bash
# bootstorm.sh - a carrier's boot storm end to end: how many phones per second reach an exact
# state in the sink, the first time a fleet boots and when the same fleet boots again.
#
# Starts the project's Kafka broker (tests/kafka/broker.sh), then `phonereport ingest`, one
# `phonereport decode` and `phonereport sink` as separate processes (a Release build). Round 1:
# `phonereport-sim play` boots N phones as fast as the edge takes them (--rate 0), each sending
# a full report of the real 8832 profile and a status report; the round ends when
# the sink has applied every record, and `phonereport-sim verify` then finds its API exact.
# Round 2: the same fleet (same seed: same MACs, same configurations) boots again; the round
# ends when the sink has applied all of those records too (verify is exact all along: nothing
# changed). Then the sink and the decoder stop, and a fresh decoder (new group and
# transactional id, same raw topic) decodes every raw record of both rounds alone: the
# decoder's throughput on the same records, the baseline of the end-to-end rate. Before that,
# the edge's promise is checked on what the phones saw: every upload play got a 2xx for (its
# X-Request-Id, from play's --journal-out) must be a record of the raw topic (pr-request-id,
# read with kcat over every partition); the run prints LOST n and fails otherwise.
#
# Prints, in one run: the edge's acceptance rate (uploads/s while play ran), phones/s until
# the state is exact for each round, the decoder-alone rate in phones/s (2 records a phone)
# and the ratio end-to-end/decoder, and the store's bytes per phone (sink.db + WAL) at its
# peak during each round and at rest after it (sampled every 0.5 s; at rest = the outbox
# drained and nothing applied for a second), and for each round the CPU seconds (user +
# system, from /proc/PID/stat) per 1,000 phones of each process: broker, ingest, decoder,
# each sink, the PostgreSQL server (the postmaster and every backend) and the simulator
# (play), from the start of the round until the sink is at rest; with the decoder alone's
# too. What a carrier sizes a larger fleet from: CPU seconds scale with the phones booted.
# From those CPU seconds, the rate the machine's cores allow: with every process as measured,
# and if the sinks cost nothing (the other processes alone bound the end-to-end rate; the
# decoder alone had every core to itself). Last, bench_decoder of the same build (one core,
# no Kafka): the decoder alone's records per CPU second against its events/s, what Kafka
# costs the decoder per record.
#
# A benchmark, not a test (not in ctest). Every process it starts is stopped on every exit
# path (EXIT/INT/TERM trap: tests/support/pipeline.sh).
#
#   tests/bench/e2e/bootstorm.sh [--store sqlite|postgres|both] [--sinks N] [PHONES=20000]
#
# --store postgres: the sinks share a PostgreSQL store (a server of its own, tests/pg/pg.sh);
# --sinks N of them in one consumer group (default 1; N > 1 needs postgres); the store's bytes
# per phone are then its tables, indexes and TOAST (pg_total_relation_size). --store both runs
# the benchmark on SQLite, then on PostgreSQL, and prints the two reports one after the other.
#
# Environment: PHONEREPORT_BIN, PHONEREPORT_SIM (default: a Release build in build-bench-e2e/,
# built if missing), BOOTSTORM_WORKERS (play's connections, default 32), BOOTSTORM_PLAY_S
# (play's --duration-s, default max(10, PHONES/100): the phones boot in its first tenth, and
# play stops sending at its end), BOOTSTORM_TIMEOUT_S (per round, default 1800),
# BOOTSTORM_WARMUP (phones of another fleet booted first, default 500), PR_KAFKA_JVM_OPTS
# (default -XX:+TieredCompilation, the full JIT of a production broker), BOOTSTORM_ROLE_ARGS
# (options every role gets, e.g. "--kafka.compression.type none"), BOOTSTORM_KEEP=1 keeps the
# work directory and logs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
store=sqlite
nsinks=1
while [ $# -gt 0 ]; do
    case "$1" in
    --store) store=${2:?--store needs sqlite, postgres or both}; shift 2 ;;
    --store=*) store=${1#--store=}; shift ;;
    --sinks) nsinks=${2:?--sinks needs a number}; shift 2 ;;
    --sinks=*) nsinks=${1#--sinks=}; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bootstorm: unknown option $1 (see --help)" >&2; exit 64 ;;
    *) break ;;
    esac
done
phones=${1:-20000}
case "$store" in
sqlite | postgres) ;;
both)
    # the same benchmark twice, SQLite then PostgreSQL (same phones, same number of sinks
    # where SQLite allows it: one)
    "$0" --store sqlite --sinks 1 "$phones"
    exec "$0" --store postgres --sinks "$nsinks" "$phones"
    ;;
*) echo "bootstorm: --store sqlite|postgres|both (not $store)" >&2; exit 64 ;;
esac
[[ "$nsinks" =~ ^[1-9][0-9]*$ ]] || { echo "bootstorm: --sinks N (N >= 1)" >&2; exit 64; }
if [ "$store" = sqlite ] && [ "$nsinks" != 1 ]; then
    echo "bootstorm: several sinks need --store postgres (SQLite is one sink's store)" >&2
    exit 64
fi
workers=${BOOTSTORM_WORKERS:-32}
timeout_s=${BOOTSTORM_TIMEOUT_S:-1800}
warm=${BOOTSTORM_WARMUP:-500}
play_s=${BOOTSTORM_PLAY_S:-$((phones / 100 > 10 ? phones / 100 : 10))}
export PR_KAFKA_JVM_OPTS=${PR_KAFKA_JVM_OPTS:--XX:+TieredCompilation}

for tool in curl python3 kcat; do
    command -v "$tool" >/dev/null || { echo "bootstorm: $tool not found" >&2; exit 1; }
done
bin=${PHONEREPORT_BIN:-}
sim=${PHONEREPORT_SIM:-}
if [ -z "$bin" ] || [ -z "$sim" ]; then
    build="$repo/build-bench-e2e"
    bin=${bin:-$build/phonereport}
    sim=${sim:-$build/phonereport-sim}
    if [ ! -x "$bin" ] || [ ! -x "$sim" ]; then
        echo "bootstorm: building a Release phonereport and phonereport-sim in $build" >&2
        cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPR_SANITIZE=OFF \
            >/dev/null
        ninja -C "$build" -j2 phonereport phonereport-sim bench_decoder >/dev/null
    fi
fi
# bench_decoder of the same build: the decoder's per-core rate, beside the decoder alone's
bench_dec=${BOOTSTORM_BENCH_DECODER:-$(dirname "$bin")/tests/bench/decoder/bench_decoder}
[ -x "$bench_dec" ] || { echo "bootstorm: $bench_dec not found (BOOTSTORM_BENCH_DECODER)" >&2; exit 1; }

. "$repo/tests/support/pipeline.sh"
pl_init bootstorm "${BOOTSTORM_KEEP:-0}"
now() { date +%s.%N; }
metric() { pl_metric "$@"; }
store_bytes() {
    if [ "$store" = postgres ]; then
        psql -X -A -t "$pgurl" -c "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind = 'r'" 2>/dev/null || echo 0
    else
        du -sb --apparent-size "$work/sink-data" 2>/dev/null | awk '{ print $1 }'
    fi
}
# metric summed over every sink (each counts what it applied)
sinks_metric() {
    local i t=0
    for i in $(seq 1 "$nsinks"); do t=$((t + $(metric "${api_ports[$i]}" "$1"))); done
    echo "$t"
}

step "work $work; $phones phones; store $store, $nsinks sink(s); starting Kafka"
[ "$store" = postgres ] && pl_pg_start
PR_KAFKA_HEAP=${PR_KAFKA_HEAP:-1g} pl_kafka_start
ingest_port=$(pl_free_port)
dec_port=$(pl_free_port)
# shellcheck disable=SC2086 # BOOTSTORM_ROLE_ARGS: words on purpose
pl_roles "$bin" --log-level warn ${BOOTSTORM_ROLE_ARGS:-}

pl_ingest ingest "$ingest_port"
pl_decoder decoder 1
declare -A api_ports=()
for i in $(seq 1 "$nsinks"); do
    api_ports[$i]=$(pl_free_port)
    storeopt=(--data-dir "$work/sink-data")
    [ "$store" = postgres ] && storeopt=(--sink-store "$pgurl")
    pl_sink "sink$i" "${api_ports[$i]}" "${storeopt[@]}"
done
api_port=${api_ports[1]}
pl_wait_until 120 "ingest /readyz" pl_http_ok "http://127.0.0.1:$ingest_port/readyz"
for i in $(seq 1 "$nsinks"); do
    pl_wait_until 120 "sink $i /healthz" pl_http_ok "http://127.0.0.1:${api_ports[$i]}/healthz"
done

# The store's size on disk every 0.5 s, with a round marker written by the rounds below.
echo 0 >"$work/round"
sample_sizes() {
    while :; do
        printf '%s %s\n' "$(cat "$work/round")" "$(store_bytes)" >>"$work/sizes"
        sleep 0.5
    done
}
pl_spawn sampler sample_sizes

# cpu_snapshot FILE: the CPU seconds every process of the pipeline used so far (pl_cpu); the
# simulator's are written by play itself, once it has reaped `phonereport-sim play`.
cpu_snapshot() {
    local i procs=(broker="$(cat "$PR_KAFKA_DIR/pid")" ingest="${pids[ingest]}"
        decoder="${pids[decoder]}")
    for i in $(seq 1 "$nsinks"); do procs+=("sink$i=${pids[sink$i]}"); done
    [ "$store" = postgres ] && procs+=(postgres="$(head -n 1 "$pgdir/data/postmaster.pid")")
    pl_cpu "${procs[@]}" >"$1"
}

applied() { # config + status reports the sink applied, and refused or invalid ones
    echo $(($(sinks_metric phonereport_sink_applied_reports_total) +
        $(sinks_metric phonereport_sink_invalid_events_total)))
}
applied_ge() { [ "$(applied)" -ge "$1" ]; }
at_rest() { # the outbox is empty and the sink applied `want` records
    applied_ge "$1" && [ "$(metric "$api_port" phonereport_sink_outbox_pending)" = 0 ]
}

ingest_ok() { metric "$ingest_port" phonereport_ingest_requests_total 'status="200"'; }

# play SEED PHONES TAG: one boot of the fleet (a full report and a status report a phone);
# run in a subshell of its own, it writes play's CPU seconds into cpu-play-TAG.
play() {
    local st=0 stat
    "$sim" play --url "http://127.0.0.1:$ingest_port/r" --phones "$2" --seed "$1" \
        --duration-s "$play_s" --rate 0 --deltas 0 --status-every-s 0 --method mixed \
        --encrypt none --workers "$workers" --quiet --expect-out "$work/expect-$3.json" \
        --stats-out "$work/play-$3.json" --journal-out "$work/journal-$3.jsonl" \
        >"$work/play-$3.log" 2>&1 || st=$?
    # the children this shell reaped (play alone): fields 16 and 17 of /proc/PID/stat
    read -r stat <"/proc/$BASHPID/stat"
    read -r -a stat <<<"${stat##*) }"
    echo "simulator $((stat[13] + stat[14]))" >"$work/cpu-play-$3.ticks"
    return "$st"
}

# check_acked: the edge's promise, checked on what play saw: every upload that got a 2xx
# (play's journals: its X-Request-Id) is a record of the raw topic (its pr-request-id header),
# read with kcat over every partition, again until two reads agree. Prints LOST n and fails
# when some are not.
check_acked() {
    local prev=-1 n i
    for i in $(seq 1 30); do
        kcat -C -b "$brokers" -t "${prefix}raw" -o beginning -e -q -f '%k %h\n' \
            >"$work/raw-ids" 2>/dev/null || true
        n=$(wc -l <"$work/raw-ids")
        [ "$n" = "$prev" ] && break
        prev=$n
        sleep 1
    done
    python3 - "$work" <<'PY'
import glob, json, re, sys
work = sys.argv[1]
on_raw = {}
for line in open(f"{work}/raw-ids"):
    m = re.search(r"(?:^|,| )pr-request-id=([^,\s]+)", line)
    if m:
        on_raw[m.group(1)] = line.split(" ", 1)[0]
acked = [json.loads(l) for f in sorted(glob.glob(f"{work}/journal-*.jsonl")) for l in open(f)]
lost = [j for j in acked if j.get("request_id", "") not in on_raw]
wrong = [j for j in acked if j.get("request_id") in on_raw and on_raw[j["request_id"]] != j["mac"]]
for j in lost[:20]:
    print(f"bootstorm: LOST {j['request_id'] or '(no X-Request-Id)'} {j['mac']} {j['kind']}",
          file=sys.stderr)
for j in wrong[:20]:
    print(f"bootstorm: {j['request_id']} is keyed {on_raw[j['request_id']]}, not {j['mac']}",
          file=sys.stderr)
print(f"bootstorm: {len(acked)} acknowledged uploads, {len(on_raw)} raw records:"
      f" LOST {len(lost)}", file=sys.stderr)
sys.exit(1 if lost or wrong else 0)
PY
}

# round N: plays the fleet, waits until the sink applied every record and checks that the
# state is then exact (verify); writes
# "uploads_per_s phones_per_s seconds" into $work/roundN.
round() {
    local n=$1 t0 t1="" t2="" ok0 base st=0
    ok0=$(ingest_ok)
    base=$(applied)
    echo "$n" >"$work/round"
    step "round $n: playing $phones phones (full + status each, --rate 0)"
    cpu_snapshot "$work/cpu-$n-start"
    t0=$(now)
    pl_spawn play play "$seed" "$phones" "$n"
    # The edge's rate: until it answered 200 to every upload; the end to end rate: until the
    # sink applied every record (verify then checks that state; play may outlive both).
    while kill -0 "${pids[play]}" 2>/dev/null; do
        [ -z "$t1" ] && [ "$(ingest_ok)" -ge $((ok0 + 2 * phones)) ] && t1=$(now)
        [ -z "$t2" ] && applied_ge $((base + 2 * phones)) && t2=$(now)
        sleep 0.1
    done
    pl_wait play || st=$?
    [ "$st" = 0 ] || fail "round $n: some uploads were not acknowledged (play-$n.log)"
    [ -n "$t1" ] || t1=$(now)
    [ "$(ingest_ok)" -ge $((ok0 + 2 * phones)) ] ||
        fail "round $n: play sent fewer than $((2 * phones)) reports before its end; raise BOOTSTORM_PLAY_S"
    while [ -z "$t2" ]; do
        pl_check_alive
        applied_ge $((base + 2 * phones)) && t2=$(now)
        [ $(python3 -c "print(int($(now) - $t0))") -lt "$timeout_s" ] ||
            fail "round $n: the sink did not apply $((2 * phones)) records in ${timeout_s}s"
        sleep 0.1
    done
    python3 -c "print(f'{2 * $phones / ($t1 - $t0):.0f} {$phones / ($t2 - $t0):.1f} {$t2 - $t0:.1f}')" \
        >"$work/round$n"
    step "round $n: every record applied after $(cut -d' ' -f3 "$work/round$n")s; waiting for the outbox"
    pl_wait_until "$timeout_s" "round $n: the outbox to drain" at_rest $((base + 2 * phones))
    cpu_snapshot "$work/cpu-$n-end"
    # After the CPU snapshot: the verifier reads every phone's whole state from sink1's API,
    # which is the benchmark's work, not the boot storm's (it used to be counted as sink1's).
    pl_run verify "$sim" verify --api "http://127.0.0.1:$api_port" --expect "$work/expect-$n.json" \
        --timeout-s 60 >"$work/verify$n.log" 2>&1 ||
        fail "round $n: the state is not exact once every record is applied (verify$n.log)"
    step "round $n: exact"
    sleep 1
    echo "rest$n" >"$work/round"
    sleep 1.2
}

# Phones of another fleet first, so that every client has its producer id, transaction
# coordinator and partitions, and the broker's JIT has compiled its hot paths, before the storm
# (not part of the figures): a carrier's broker is warm when its phones reboot. With 5 phones
# the broker still spent twice the CPU per phone in round 1 as in round 2.
step "warm-up: $warm phones of another fleet"
play $((seed + 1)) "$warm" warmup || fail "warm-up: uploads not acknowledged (play-warmup.log)"
pl_run verify "$sim" verify --api "http://127.0.0.1:$api_port" --expect "$work/expect-warmup.json" \
    --timeout-s 300 >"$work/verify-warmup.log" 2>&1 || fail "warm-up: verify failed"
pl_wait_until 300 "the warm-up to be applied" applied_ge $((2 * warm))

round 1
round 2
step "checking that every acknowledged upload is on ${prefix}raw"
check_acked || fail "some acknowledged uploads are not on ${prefix}raw (LOST above)"
unchanged=$(sinks_metric phonereport_sink_unchanged_reports_total)
unparsed=$(sinks_metric phonereport_sink_unchanged_unparsed_total)
kill "${pids[sampler]}"
pl_wait sampler || true

# The decoder alone: stop the pipeline, then a fresh decoder over the same raw records.
pl_stop $(for i in $(seq 1 "$nsinks"); do echo "sink$i"; done) decoder
step "decoder alone over the $((4 * phones + 2 * warm)) raw records"
pl_start decoder_alone "$bin" decode "${PL_COMMON[@]}" --decoder-group "${prefix}decoder-alone" \
    --decoder-transactional-id "${prefix}decoder-alone-1" --metrics-listen "127.0.0.1:$dec_port"
decoded() { metric "$dec_port" phonereport_decoder_records_total; }
decoded_ge() { [ "$(decoded)" -ge "$1" ]; }
pl_wait_until 120 "the decoder to start" decoded_ge 1
d0=$(now)
n0=$(decoded)
pl_wait_until "$timeout_s" "the decoder to decode every raw record" decoded_ge $((4 * phones + 2 * warm))
d1=$(now)
pl_cpu decoder_alone="${pids[decoder_alone]}" >"$work/cpu-alone"
pl_stop decoder_alone
step "bench_decoder (one core, no Kafka) on the same build"
"$bench_dec" 3 >"$work/bench-decoder" 2>&1 || { cat "$work/bench-decoder" >&2; fail "bench_decoder failed"; }

python3 - "$work" "$phones" "$d0" "$d1" "$n0" "$unchanged" "$unparsed" "$store" "$nsinks" "$warm" <<'PY'
import os, sys
work, phones = sys.argv[1], int(sys.argv[2])
store, nsinks = sys.argv[8], sys.argv[9]
d0, d1, n0 = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
unchanged, unparsed = int(sys.argv[6]), int(sys.argv[7])
total = 4 * phones + 2 * int(sys.argv[10])  # both rounds and the warm-up
r = {n: open(f"{work}/round{n}").read().split() for n in (1, 2)}
dec = (total - n0) / 2 / (d1 - d0)  # phones/s: two records a phone
peak, rest = {}, {}
for line in open(f"{work}/sizes"):
    tag, size = line.split()
    size = int(size or 0)
    if tag in ("1", "2"):
        peak[tag] = max(peak.get(tag, 0), size)
    elif tag.startswith("rest"):
        rest[tag[4:]] = size  # the last sample at rest
where = "SQLite (sink.db + WAL)" if store == "sqlite" else \
    f"PostgreSQL shared by {nsinks} sink(s) (tables, indexes, TOAST)"
print(f"bootstorm: {phones} phones, each a full 8832 report and a status report; store {where}")
for n in ("1", "2"):
    acc, pps, secs = r[int(n)]
    name = "first boot" if n == "1" else "same fleet again (unchanged)"
    print(f"  round {n}, {name}: edge accepted {acc} uploads/s; state exact after {secs}s ="
          f" {pps} phones/s end to end; ratio end-to-end/decoder {float(pps) / dec:.2f}")
    if n in peak and n in rest:
        print(f"    store: peak {peak[n] / phones:.0f} bytes/phone, at rest {rest[n] / phones:.0f}"
              f" bytes/phone (peak/rest {peak[n] / max(rest[n], 1):.2f})")
    # CPU seconds (user + system, /proc/PID/stat) per 1,000 phones of this round
    cpu = lambda f: {k: float(v) for k, v in (l.split() for l in open(f"{work}/{f}"))}
    t0, t1 = cpu(f"cpu-{n}-start"), cpu(f"cpu-{n}-end")
    used = {k: t1[k] - t0.get(k, 0.0) for k in t1}
    name, ticks = open(f"{work}/cpu-play-{n}.ticks").read().split()
    used[name] = int(ticks) / os.sysconf("SC_CLK_TCK")
    per = lambda s: f"{1000 * s / phones:.2f}"
    print("    CPU s per 1,000 phones: " + ", ".join(f"{k} {per(v)}" for k, v in used.items())
          + f"; all {per(sum(used.values()))}")
    # What the machine's cores allow: every process shares them (the decoder alone had them
    # to itself), so these bound the end-to-end rate whatever the sink does.
    cores = os.cpu_count() or 1
    others = sum(v for k, v in used.items() if not k.startswith("sink"))
    cap_all = cores * phones / max(sum(used.values()), 1e-9)
    cap_free = cores * phones / max(others, 1e-9)
    print(f"    CPU bound on {cores} cores: {cap_all:.0f} phones/s with every process as measured"
          f" (ratio {cap_all / dec:.2f}); {cap_free:.0f} phones/s (ratio {cap_free / dec:.2f})"
          f" if the sink{'s' if nsinks != '1' else ''} cost nothing")
alone = float(open(f"{work}/cpu-alone").read().split()[1])
print(f"  decoder alone (fresh group, same raw records): {dec:.1f} phones/s,"
      f" {1000 * alone / (total / 2):.2f} CPU s per 1,000 phones (start-up included)")
# bench_decoder's 8832 events/s on one core (its first "XML -> JSON event" line)
bench = next(float(l.split()[4]) for l in open(f"{work}/bench-decoder") if "XML -> JSON event" in l)
per_cpu = total / alone  # records per CPU second, Kafka included
print(f"  decoder alone per CPU second: {per_cpu:.0f} records ({per_cpu / 2:.0f} full reports,"
      f" status reports counted free); bench_decoder on the 8832 profile: {bench:.0f} events/s;"
      f" ratio {per_cpu / 2 / bench:.2f} (full reports only, a lower bound) to"
      f" {per_cpu / bench:.2f} (every record)")
print(f"  sink: {unchanged} unchanged full reports, {unparsed} of them loaded without parsing"
      f" their parameters")
PY
