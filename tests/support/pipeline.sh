# pipeline.sh - sourced by the shell tests and benchmarks that run the pipeline as separate
# processes (tests/e2e/e2e.sh, tests/e2e/rebaseline.sh, tests/integration/sink/multisink.sh,
# tests/bench/e2e/bootstorm.sh): one place for start-up, readiness waits, the final stop and
# the clean-up on every exit path, so that each script says only what it tests.
#
# DESIGN: every process is started through pl_start (a role: watched, its death fails the
# next wait) or pl_spawn (a client such as the simulator: allowed to end), with its output
# appended to $work/NAME.log; its pid is pids[NAME]. The EXIT trap (set by pl_init) sends
# SIGCONT and SIGTERM to every process still listed, waits, then SIGKILL; then calls the
# script's pl_on_failure hook if it defined one (the PostgreSQL server is still up), stops
# the PostgreSQL server and Kafka broker it started (pl_pg_start, pl_kafka_start), prints the
# log tails on failure and keeps or deletes $work.
#
#   pl_init NAME [KEEP]     sources timeout.sh, sets work (a fresh temporary directory), seed,
#                           prefix (unique topic prefix), the traps; KEEP=1 keeps $work
#   pl_require_brokers      brokers=$PHONEREPORT_TEST_BROKERS, or FAIL (never skip)
#   pl_kafka_start          a broker of its own (tests/kafka/broker.sh), stopped at exit
#   pl_pg_start             a PostgreSQL server of its own (tests/pg/pg.sh): pgdir, pgurl
#   pl_roles BIN ARGS...    the binary and the options every role gets (after --brokers and
#                           --topic-prefix)
#   pl_ingest NAME PORT ARGS..., pl_decoder NAME ID ARGS..., pl_sink NAME PORT ARGS...
#                           one role on 127.0.0.1:PORT (decoder: its own transactional id,
#                           the shared group; sink: the shared group)
#   pl_addresses            ingest_port, api_port (free ports), edge (http://127.0.0.1:
#                           $ingest_port/r, where phones upload), api (http://127.0.0.1:$api_port)
#   pl_start NAME CMD...    any watched process;  pl_spawn NAME CMD... an unwatched one
#   pl_run NAME CMD...      runs CMD as a child the traps can interrupt and returns its status
#   pl_wait NAME            waits for an unwatched process, returns its status
#   pl_wait_until S WHAT CMD...  polls CMD until it succeeds; FAIL after S seconds (scaled
#                           by PR_TEST_TIMEOUT_SCALE) or at once when a watched process died
#   pl_kill9 NAME           kill -9 and forget;   pl_stop NAME...  SIGTERM, exit status 0 and
#                           no sanitizer report required of each
#   pl_test NAME KEEP "$@"  bin, sim and py from a ctest pipeline test's arguments, pl_init,
#                           pl_require_brokers
#   pl_sim_keys SIM N ENCRYPT  the simulated fleet's keys, $work/keystore.json (the decoders')
#   pl_sim_sip SIM EDGE N ARGS...  `phonereport-sim sip`: N phones answering NOTIFYs on one UDP
#                           port of 127.0.0.1 ($sim_port once it is up), $work/creds.json
#   pl_wait_ready S URL...  each URL (a /readyz) answers 200 within S seconds
#   pl_free_port, pl_http_ok URL, pl_http_code URL, pl_metric PORT NAME [LABEL],
#   pl_kcat_dump TOPIC, pl_kcat_count TOPIC, pl_cpu NAME=PID...  (CPU seconds from /proc)
#   fail MSG, step MSG      "NAME: FAIL: MSG" and exit 1;  "NAME: HH:MM:SS MSG"

. "$(dirname "${BASH_SOURCE[0]}")/timeout.sh"
pl_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pl_py=${PR_PYTHON:-python3}

pl_init() { # NAME [KEEP]
    PL_NAME=$1
    PL_KEEP=${2:-0}
    work=$(mktemp -d "${TMPDIR:-/tmp}/pr-$PL_NAME-XXXXXX")
    seed=$((RANDOM * 32768 + RANDOM))
    prefix="$PL_NAME-$$-$(date +%s%N | tail -c 10)."
    declare -gA pids=() pl_watched=() pl_ports=()
    PR_KAFKA_DIR="" pgdir=""
    trap pl_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

fail() { echo "$PL_NAME: FAIL: $*" >&2; exit 1; }
step() { echo "$PL_NAME: $(date +%T) $*" >&2; }

pl_cleanup() {
    local rc=$? name p i f
    set +e # every step below runs, whatever the one before it returned
    for name in "${!pids[@]}"; do
        kill -CONT "${pids[$name]}" 2>/dev/null
        kill -TERM "${pids[$name]}" 2>/dev/null
    done
    for name in "${!pids[@]}"; do
        p=${pids[$name]}
        for i in $(seq 1 "$(pr_scaled 100)"); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    [ "$rc" -ne 0 ] && declare -F pl_on_failure >/dev/null && pl_on_failure
    [ -n "$pgdir" ] && "$pl_top/tests/pg/pg.sh" stop "$pgdir" >/dev/null 2>&1
    [ -n "$PR_KAFKA_DIR" ] && "$pl_top/tests/kafka/broker.sh" stop "$PR_KAFKA_DIR"
    if [ "$rc" -ne 0 ]; then
        echo "$PL_NAME: FAILED (exit $rc); seed $seed, topic prefix $prefix; log tails:" >&2
        for f in "$work"/*.log; do
            [ -f "$f" ] || continue
            echo "----- $(basename "$f")" >&2
            tail -n 15 "$f" >&2
        done
    fi
    if [ "$PL_KEEP" = 1 ] || [ "$rc" -ne 0 ]; then
        echo "$PL_NAME: work directory kept: $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$rc"
}

# pl_test NAME KEEP "$@": the start of a pipeline test that ctest runs as
# `NAME.sh PHONEREPORT_BINARY PHONEREPORT_SIM_BINARY`: sets bin and sim (and py), pl_init NAME
# KEEP, pl_require_brokers.
pl_test() {
    local usage="usage: $1.sh PHONEREPORT_BINARY PHONEREPORT_SIM_BINARY"
    bin=${3:?$usage}
    sim=${4:?$usage}
    py=$pl_py
    pl_init "$1" "$2"
    pl_require_brokers
}

pl_require_brokers() {
    brokers=${PHONEREPORT_TEST_BROKERS:-}
    [ -n "$brokers" ] || fail "PHONEREPORT_TEST_BROKERS is not set; run through" \
        "scripts/test.sh or tests/kafka/broker.sh run -- ctest ..."
    command -v kcat >/dev/null || fail "kcat not found"
}

pl_kafka_start() {
    local out
    out=$("$pl_top/tests/kafka/broker.sh" start) || fail "tests/kafka/broker.sh start"
    eval "$out"
    brokers=$PHONEREPORT_TEST_BROKERS
}

pl_pg_start() {
    local out
    out=$("$pl_top/tests/pg/pg.sh" start) || fail "tests/pg/pg.sh start"
    eval "$out"
    pgdir=$PR_PG_DIR
    pgurl=$PHONEREPORT_TEST_PG
}

pl_free_port() { # a free loopback port, never one this script handed out before
    local port
    while :; do
        port=$("$pl_py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        [ -n "${pl_ports[$port]:-}" ] || break
    done
    pl_ports[$port]=1
    echo "$port"
}

pl_roles() { # BIN ARGS...
    PL_BIN=$1
    shift
    PL_COMMON=(--brokers "$brokers" --topic-prefix "$prefix" "$@")
}

pl_addresses() { # ingest_port and api_port (free), edge (the uploads' base URL) and api
    ingest_port=$(pl_free_port)
    api_port=$(pl_free_port)
    edge="http://127.0.0.1:$ingest_port/r"
    api="http://127.0.0.1:$api_port"
}

pl_start() { # NAME CMD...: a watched process
    pl_spawn "$@"
    pl_watched[$1]=1
}
pl_spawn() { # NAME CMD...: a process that may end by itself
    local name=$1
    shift
    "$@" >>"$work/$name.log" 2>&1 &
    pids[$name]=$!
}
pl_ingest() { # NAME PORT ARGS...
    local name=$1 port=$2
    shift 2
    pl_start "$name" "$PL_BIN" ingest "${PL_COMMON[@]}" --listen "127.0.0.1:$port" "$@"
}
pl_decoder() { # NAME ID ARGS...
    local name=$1 id=$2
    shift 2
    pl_start "$name" "$PL_BIN" decode "${PL_COMMON[@]}" --decoder-group "${prefix}decoder" \
        --decoder-transactional-id "${prefix}decoder-$id" "$@"
}
pl_sink() { # NAME PORT ARGS...
    local name=$1 port=$2
    shift 2
    pl_start "$name" "$PL_BIN" sink "${PL_COMMON[@]}" --api-listen "127.0.0.1:$port" \
        --sink-group "${prefix}sink" "$@"
}

pl_sim_keys() { # SIM N ENCRYPT
    "$1" keys --phones "$2" --seed "$seed" --encrypt "$3" --keystore-out "$work/keystore.json" ||
        fail "phonereport-sim keys"
}
pl_sim_sip() { # SIM EDGE N ARGS...
    local sim=$1 edge=$2 n=$3
    shift 3
    pl_start sim "$sim" sip --url "$edge" --phones "$n" --seed "$seed" --encrypt none \
        --method mixed --port-file "$work/sim.port" --credentials-out "$work/creds.json" "$@"
    pl_wait_until 20 "the simulator's port" pl_sim_sip_up
    sim_port=$(cat "$work/sim.port")
}
pl_sim_sip_up() { [ -s "$work/sim.port" ] && [ -s "$work/creds.json" ]; }
pl_wait_ready() { # S URL...
    local s=$1 url
    shift
    for url; do pl_wait_until "$s" "$url" pl_http_ok "$url"; done
}
pl_wait() { # NAME: the status of an unwatched process, which is then forgotten
    local st=0
    wait "${pids[$1]}" || st=$?
    unset "pids[$1]"
    return "$st"
}
pl_run() { # NAME CMD...: a child the traps can interrupt (bash runs a trap only once a
    # foreground command returns); returns its status
    local name=$1
    shift
    "$@" &
    pids[$name]=$!
    pl_wait "$name"
}

pl_check_alive() {
    local name
    for name in "${!pl_watched[@]}"; do
        [ -n "${pids[$name]:-}" ] || continue
        kill -0 "${pids[$name]}" 2>/dev/null || fail "$name exited unexpectedly (see $name.log)"
    done
}

pl_wait_until() { # DEADLINE_S DESCRIPTION CMD...
    local limit what=$2 end
    limit=$(pr_scaled "$1")
    shift 2
    end=$((SECONDS + limit))
    until "$@"; do
        pl_check_alive
        [ $SECONDS -lt $end ] || fail "timed out after ${limit}s waiting for $what"
        sleep 0.2
    done
}

pl_kill9() { # NAME
    kill -KILL "${pids[$1]}"
    wait "${pids[$1]}" 2>/dev/null || true
    unset "pids[$1]" "pl_watched[$1]"
}

pl_stop() { # NAME...: SIGTERM; each must stop in time, with status 0 and a clean log
    local name p end st
    for name in "$@"; do kill -TERM "${pids[$name]}"; done
    for name in "$@"; do
        p=${pids[$name]}
        end=$((SECONDS + $(pr_scaled 60)))
        while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.2; done
        kill -0 "$p" 2>/dev/null && fail "$name did not stop within $(pr_scaled 60)s of SIGTERM"
        st=0
        wait "$p" || st=$?
        unset "pids[$name]" "pl_watched[$name]"
        [ "$st" = 0 ] || fail "$name exited with status $st after SIGTERM (see $name.log)"
        if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$work/$name.log"; then
            fail "sanitizer report in $name.log"
        fi
    done
}

# pl_boot_delta EDGE MAC USER RULE: a phone's first report through the edge, a delta with its
# line (User_ID_1_) and Report_Rule (the re-baseline then asks it for its full report).
pl_boot_delta() {
    local body code
    body="<flat-profile><User_ID_1_>$3</User_ID_1_><Report_Rule>$4</Report_Rule></flat-profile>"
    code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -X PUT \
        -A "Cisco-CP-8832-3PCC/11.3.1 ($2)" --data-binary "$body" "$1/$2/delta.xml")
    [ "${code:0:1}" = 2 ] || fail "the edge answered $code to $2's delta"
}

pl_http_ok() { curl -fsS -o /dev/null --max-time 5 "$1" 2>/dev/null; }
pl_http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1" 2>/dev/null || true; }

# pl_metric PORT NAME [LABEL-MATCH]: the sum of a metric's series whose labels contain
# LABEL-MATCH (all when empty); 0 when absent.
pl_metric() {
    curl -fsS --max-time 5 "http://127.0.0.1:$1/metrics" 2>/dev/null |
        awk -v n="$2" -v l="${3:-}" '
            { split($1, a, "{") }
            a[1] == n && (l == "" || index($1, l) > 0) { s += $2 }
            END { printf "%d\n", s }'
}

# pl_kcat_dump TOPIC: the records of TOPIC as a read_committed consumer sees them now, one
# kcat JSON envelope a line; pl_kcat_count counts them.
pl_kcat_dump() {
    kcat -C -b "$brokers" -t "$1" -o beginning -e -q -J -X isolation.level=read_committed \
        2>/dev/null || true
}
pl_kcat_count() { pl_kcat_dump "$1" | grep -c '^{' || true; }

# pl_cpu NAME=PID...: prints "NAME SECONDS" a line, the CPU time (user + system) a process
# and all its descendants used so far, read from /proc/PID/stat: every live process of the
# tree counts its own time plus that of the children it reaped (a PostgreSQL backend that
# ended is in the postmaster's). 0 for a process that is gone.
pl_cpu() {
    "$pl_py" - "$@" <<'PY'
import os, sys
tck = os.sysconf("SC_CLK_TCK")
procs = {}  # pid -> (ppid, own + reaped children's ticks)
for d in os.listdir("/proc"):
    if not d.isdigit():
        continue
    try:
        with open(f"/proc/{d}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    procs[int(d)] = (int(rest[1]), sum(int(x) for x in rest[11:15]))
kids = {}
for pid, (ppid, _) in procs.items():
    kids.setdefault(ppid, []).append(pid)
for arg in sys.argv[1:]:
    name, pid = arg.split("=", 1)
    todo, ticks = [int(pid)] if pid.isdigit() and int(pid) in procs else [], 0
    while todo:
        p = todo.pop()
        ticks += procs[p][1]
        todo += kids.get(p, [])
    print(f"{name} {ticks / tck:.2f}")
PY
}
