#!/usr/bin/env bash
# rebaseline.sh - end to end, the sink's re-baseline: ingest, a decoder and the sink (with
# --rebaseline-* on, short intervals) as separate processes on the real broker, and
# `phonereport-sim sip` as the phones (one UDP port on 127.0.0.1, which is also the address
# the edge records as each phone's pr-remote, so the sink's --rebaseline-sip-port is the
# simulator's port).
#
#   rebaseline.sh PHONEREPORT_BINARY PHONEREPORT_SIM_BINARY
#
# Passes only if:
#   - phones whose first report is a delta (carrying their line and a Report_Rule with a
#     full-report URL) are asked by the sink (report_request.trigger "incomplete"), answer the
#     Digest challenge's retry with 200, upload their full report through the edge, and end
#     complete with exactly that report's parameters (`phonereport-sim verify`);
#   - a phone whose Report_Rule has no full-report rule is not asked: it stays incomplete with
#     report_request.skipped "no full-report rule";
#   - the metrics count the accepted requests and the skip;
#   - every role stops on SIGTERM with status 0 and no sanitizer report.
# Every process is stopped on every exit path. Needs PHONEREPORT_TEST_BROKERS: fails without.
set -euo pipefail
. "$(dirname "$0")/../support/timeout.sh"

bin=${1:?usage: rebaseline.sh PHONEREPORT_BINARY PHONEREPORT_SIM_BINARY}
sim=${2:?usage: rebaseline.sh PHONEREPORT_BINARY PHONEREPORT_SIM_BINARY}
brokers=${PHONEREPORT_TEST_BROKERS:-}
if [ -z "$brokers" ]; then
    echo "rebaseline: FAIL: PHONEREPORT_TEST_BROKERS is not set; run through scripts/test.sh" >&2
    exit 1
fi
py=${PR_PYTHON:-python3}
phones=${PR_REBASELINE_PHONES:-8}
seed=$((RANDOM * 32768 + RANDOM))
prefix="rb-$$-$(date +%s%N | tail -c 10)."
work=$(mktemp -d "${TMPDIR:-/tmp}/pr-rebaseline-XXXXXX")

declare -A pids=()
cleanup() {
    local rc=$? name p i
    for name in "${!pids[@]}"; do kill -TERM "${pids[$name]}" 2>/dev/null || true; done
    for name in "${!pids[@]}"; do
        p=${pids[$name]}
        for i in $(seq 1 "$(pr_scaled 100)"); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ "$rc" -ne 0 ]; then
        echo "rebaseline: FAILED (exit $rc); seed $seed, prefix $prefix; log tails:" >&2
        for f in "$work"/*.log; do
            [ -f "$f" ] || continue
            echo "----- $(basename "$f")" >&2
            tail -n 15 "$f" >&2
        done
        echo "rebaseline: work directory kept: $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT

fail() { echo "rebaseline: FAIL: $*" >&2; exit 1; }
step() { echo "rebaseline: $(date +%T) $*" >&2; }
free_port() {
    "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
check_alive() {
    local name
    for name in ingest decoder sink sim; do
        [ -n "${pids[$name]:-}" ] || continue
        kill -0 "${pids[$name]}" 2>/dev/null || fail "$name exited unexpectedly (see $name.log)"
    done
}
wait_until() { # DEADLINE_S DESCRIPTION CMD...
    local limit what=$2 end
    limit=$(pr_scaled "$1")
    shift 2
    end=$((SECONDS + limit))
    until "$@"; do
        check_alive
        [ $SECONDS -lt $end ] || fail "timed out after ${limit}s waiting for $what"
        sleep 0.3
    done
}
http_ok() { curl -fsS -o /dev/null --max-time 5 "$1" 2>/dev/null; }

ingest_port=$(free_port)
api_port=$(free_port)
while [ "$api_port" = "$ingest_port" ]; do api_port=$(free_port); done
api="http://127.0.0.1:$api_port"
edge="http://127.0.0.1:$ingest_port/r"
common=(--brokers "$brokers" --topic-prefix "$prefix" --log-level info)

step "work $work, prefix $prefix, $phones phones (seed $seed)"
"$sim" keys --phones "$phones" --seed "$seed" --encrypt none \
    --keystore-out "$work/keystore.json" || fail "phonereport-sim keys"
# The phones: answer NOTIFYs on one UDP port, upload their full report to the edge.
"$sim" sip --url "$edge" --phones "$phones" --seed "$seed" --encrypt none --method mixed \
    --port-file "$work/sim.port" --credentials-out "$work/creds.json" \
    --expect-out "$work/expect.json" >"$work/sim.log" 2>&1 &
pids[sim]=$!
sim_port_known() { [ -s "$work/sim.port" ]; }
wait_until 20 "the simulator's port" sim_port_known
sim_port=$(cat "$work/sim.port")

"$bin" ingest "${common[@]}" --listen "127.0.0.1:$ingest_port" >"$work/ingest.log" 2>&1 &
pids[ingest]=$!
"$bin" decode "${common[@]}" --decoder-keystore "$work/keystore.json" \
    --decoder-group "${prefix}decoder" --decoder-transactional-id "${prefix}decoder-1" \
    >"$work/decoder.log" 2>&1 &
pids[decoder]=$!
"$bin" sink "${common[@]}" --api-listen "127.0.0.1:$api_port" --data-dir "$work/sink-data" \
    --sink-group "${prefix}sink" --rebaseline-credentials "$work/creds.json" \
    --rebaseline-sip-port "$sim_port" --rebaseline-interval 3s --rebaseline-rate 20 \
    --rebaseline-timeout 3s >"$work/sink.log" 2>&1 &
pids[sink]=$!
wait_until 60 "ingest /readyz" http_ok "http://127.0.0.1:$ingest_port/readyz"
wait_until 60 "sink /readyz" http_ok "$api/readyz"

# Each phone's first report is a delta: its line and a Report_Rule with a full-report URL
# (what the simulator uploads on a NOTIFY). One more phone, not simulated, reports rules
# without a full-report URL.
step "booting the phones with a delta only"
"$py" - "$work/creds.json" "$edge" >"$work/boot.tsv" <<'PY'
import json, sys
phones = json.load(open(sys.argv[1]))["phones"]
for mac, c in sorted(phones.items()):
    print(f"{mac}\t{c['user']}\t{sys.argv[2]}/$MA/full.xml [--delta]{sys.argv[2]}/$MA/delta.xml")
print(f"02ee00000001\t5550001\t[--delta]{sys.argv[2]}/$MA/delta.xml [--status]{sys.argv[2]}/$MA/status.xml")
PY
while IFS=$'\t' read -r mac user rule; do
    body="<flat-profile><User_ID_1_>$user</User_ID_1_><Report_Rule>$rule</Report_Rule></flat-profile>"
    code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -X PUT \
        -A "Cisco-CP-8832-3PCC/11.3.1 ($mac)" --data-binary "$body" "$edge/$mac/delta.xml")
    [ "${code:0:1}" = 2 ] || fail "the edge answered $code to $mac's delta"
done <"$work/boot.tsv"

# The sink asks every simulated phone; they upload; the state becomes complete and exact.
step "waiting for the re-baseline (verify)"
"$sim" verify --api "$api" --expect "$work/expect.json" --timeout-s "$(pr_scaled 60)" \
    >"$work/verify.log" 2>&1 || { head -n 30 "$work/verify.log" >&2; fail "verify found mismatches"; }
tail -n 1 "$work/verify.log" >&2
skip_recorded() {
    curl -fsS --max-time 5 "$api/v1/phones/02ee00000001" 2>/dev/null | grep -q '"skipped"'
}
wait_until 30 "the skip of the phone without a full-report rule" skip_recorded

"$py" - "$api" "$work/expect.json" <<'PY' || fail "the API's report_request fields"
import json, sys, urllib.request
api, expect = sys.argv[1], json.load(open(sys.argv[2]))
def get(path):
    with urllib.request.urlopen(api + path, timeout=10) as r:
        return json.load(r), r.headers
problems = []
for mac in expect:
    d, _ = get(f"/v1/phones/{mac}")
    rr = d.get("report_request") or {}
    if not d["complete"] or d["remote"] != "127.0.0.1" or not d.get("report_requested_at"):
        problems.append(f"{mac}: complete {d['complete']}, remote {d['remote']}, "
                        f"report_requested_at {d.get('report_requested_at')}")
    if rr.get("outcome") != "accepted" or rr.get("status") != 200 or \
            rr.get("trigger") != "incomplete" or not rr.get("challenged"):
        problems.append(f"{mac}: report_request {rr}")
d, _ = get("/v1/phones/02ee00000001")
if d["complete"] or (d.get("report_request") or {}).get("skipped") != "no full-report rule" \
        or d.get("report_requested_at") is not None:
    problems.append(f"the phone without a full-report rule: {d}")
with urllib.request.urlopen(api + "/metrics", timeout=10) as r:
    metrics = r.read().decode()
def metric(outcome):
    for line in metrics.splitlines():
        if line.startswith(f'phonereport_sink_report_requests_total{{outcome="{outcome}"}}'):
            return float(line.split()[-1])
    return 0
if metric("accepted") < len(expect) or metric("skipped") < 1:
    problems.append(f"metrics: accepted {metric('accepted')}, skipped {metric('skipped')}")
for p in problems:
    print("rebaseline: " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY

step "stopping the roles (SIGTERM)"
for name in ingest decoder sink; do kill -TERM "${pids[$name]}"; done
for name in ingest decoder sink; do
    p=${pids[$name]}
    end=$((SECONDS + $(pr_scaled 60)))
    while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.2; done
    kill -0 "$p" 2>/dev/null && fail "$name did not stop within $(pr_scaled 60)s of SIGTERM"
    st=0
    wait "$p" || st=$?
    unset "pids[$name]"
    [ "$st" = 0 ] || fail "$name exited with status $st after SIGTERM (see $name.log)"
    if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$work/$name.log"; then
        fail "sanitizer report in $name.log"
    fi
done
step "PASS"
