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
. "$(dirname "$0")/../support/pipeline.sh"

pl_test rebaseline 0 "$@"
phones=${PR_REBASELINE_PHONES:-8}
pl_addresses
pl_roles "$bin" --log-level info

step "work $work, prefix $prefix, $phones phones (seed $seed)"
pl_sim_keys "$sim" "$phones" none
# The phones: answer NOTIFYs on one UDP port, upload their full report to the edge.
pl_sim_sip "$sim" "$edge" "$phones" --expect-out "$work/expect.json"

pl_ingest ingest "$ingest_port"
pl_decoder decoder 1 --decoder-keystore "$work/keystore.json"
pl_sink sink "$api_port" --data-dir "$work/sink-data" \
    --rebaseline-credentials "$work/creds.json" --rebaseline-sip-port "$sim_port" \
    --rebaseline-interval 3s --rebaseline-rate 20 --rebaseline-timeout 3s
pl_wait_ready 60 "http://127.0.0.1:$ingest_port/readyz" "$api/readyz"

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
    pl_boot_delta "$edge" "$mac" "$user" "$rule"
done <"$work/boot.tsv"

# The sink asks every simulated phone; they upload; the state becomes complete and exact.
step "waiting for the re-baseline (verify)"
"$sim" verify --api "$api" --expect "$work/expect.json" --timeout-s "$(pr_scaled 60)" \
    >"$work/verify.log" 2>&1 || { head -n 30 "$work/verify.log" >&2; fail "verify found mismatches"; }
tail -n 1 "$work/verify.log" >&2
skip_recorded() {
    curl -fsS --max-time 5 "$api/v1/phones/02ee00000001" 2>/dev/null | grep -q '"skipped"'
}
pl_wait_until 30 "the skip of the phone without a full-report rule" skip_recorded

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
for p in problems:
    print("rebaseline: " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
requests() { pl_metric "$api_port" phonereport_sink_report_requests_total "outcome=\"$1\""; }
[ "$(requests accepted)" -ge "$phones" ] && [ "$(requests skipped)" -ge 1 ] ||
    fail "metrics: accepted $(requests accepted), skipped $(requests skipped)"

step "stopping the roles (SIGTERM)"
pl_stop ingest decoder sink
step "PASS"
