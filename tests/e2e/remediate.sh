#!/usr/bin/env bash
# remediate.sh - end to end, the sink's drift remediation (--remediate-drift resync): ingest,
# a decoder and the sink as separate processes on the real broker, `phonereport-sim sip` as
# the phones (one UDP port on 127.0.0.1), and a plain HTTP server (Python's http.server)
# serving the profiles directory, from which a phone fetches its profile on `resync`.
#
#   remediate.sh PHONEREPORT_BINARY PHONEREPORT_SIM_BINARY
#
# Passes only if:
#   - the phones boot with a delta, are asked for their full report (re-baseline), and then
#     drift from their profile (<mac>.xml intends another Station_Name);
#   - the sink sends each of them Event: resync once the drift is open for remediate-after;
#     the phones fetch <mac>.xml, apply it, upload their full report, and the drift
#     resolves: the API's `remediation` says outcome accepted, trigger drift, drift resolved;
#   - one phone that ignores resync keeps its drift open, and is asked again once per
#     remediate-interval and no more often (the NOTIFYs it receives are at least the interval
#     apart), its remediation saying drift open;
#   - a parameter listed in --remediate-ignore never triggers a resync (a phone whose only
#     drift is there is skipped, and the simulator never sees a resync for it);
#   - POST /v1/phones/{mac}/resync asks one phone now (202, trigger api);
#   - phonereport_sink_remediations_total counts the outcomes;
#   - every role stops on SIGTERM with status 0 and no sanitizer report.
# Every process is stopped on every exit path. Needs PHONEREPORT_TEST_BROKERS: fails without.
set -euo pipefail
. "$(dirname "$0")/../support/pipeline.sh"

pl_test remediate "${PR_KEEP:-0}" "$@"
phones=4 # index 0 ignores resync, index 3 drifts only on an ignored parameter
interval=4
pl_addresses
profiles_port=$(pl_free_port)
pl_roles "$bin" --log-level info

step "work $work, prefix $prefix, $phones phones (seed $seed)"
pl_sim_keys "$sim" "$phones" none
mkdir -p "$work/profiles"
pl_start profiles "$py" -m http.server --bind 127.0.0.1 --directory "$work/profiles" \
    "$profiles_port"
pl_sim_sip "$sim" "$edge" "$phones" --resync-url "http://127.0.0.1:$profiles_port" \
    --ignore-resync 0

# The profiles: Station_Name differs from what each phone reports (SEP<MAC>); the fourth
# phone's profile differs only in Text_Logo, which --remediate-ignore names (by a glob).
"$py" - "$work/creds.json" "$work/profiles" "$edge" >"$work/boot.tsv" <<'PY'
import json, sys
phones = json.load(open(sys.argv[1]))["phones"]
by_user = sorted(phones.items(), key=lambda kv: int(kv[1]["user"]))
for i, (mac, c) in enumerate(by_user):
    body = ("<flat-profile><Text_Logo>Other</Text_Logo></flat-profile>" if i == 3 else
            "<flat-profile><Station_Name>Remediated</Station_Name></flat-profile>")
    open(f"{sys.argv[2]}/{mac}.xml", "w").write(body + "\n")
    role = "ignores" if i == 0 else "ignored_param" if i == 3 else "honours"
    print(f"{mac}\t{c['user']}\t{sys.argv[3]}/$MA/full.xml [--delta]{sys.argv[3]}/$MA/delta.xml\t{role}")
PY
pl_wait_until 20 "the profiles server" pl_http_ok \
    "http://127.0.0.1:$profiles_port/$(cut -f1 "$work/boot.tsv" | head -n 1).xml"

pl_ingest ingest "$ingest_port"
pl_decoder decoder 1 --decoder-keystore "$work/keystore.json"
pl_sink sink "$api_port" --data-dir "$work/sink-data" --profiles-dir "$work/profiles" \
    --rebaseline-credentials "$work/creds.json" --rebaseline-sip-port "$sim_port" \
    --rebaseline-interval 3s --rebaseline-rate 20 --rebaseline-timeout 3s \
    --remediate-drift resync --remediate-after 1s --remediate-interval "${interval}s" \
    --remediate-ignore 'Text_*,Dial_Plan_*'
pl_wait_ready 60 "http://127.0.0.1:$ingest_port/readyz" "$api/readyz"

step "booting the phones with a delta only"
while IFS=$'\t' read -r mac user rule _; do
    pl_boot_delta "$edge" "$mac" "$user" "$rule"
done <"$work/boot.tsv"

# Re-baseline, drift, resync, the profile applied, the drift resolved (honouring phones);
# the ignoring phone asked at least twice.
resync_count() { # MAC: resyncs the simulator saw for it (authenticated)
    grep -c "\"mac\":\"$1\".*\"result\":\"resync" "$work/sim.log" || true
}
converged() {
    "$py" - "$api" "$work/boot.tsv" <<'PY'
import json, sys, urllib.request
api = sys.argv[1]
for line in open(sys.argv[2]):
    mac, _, _, role = line.rstrip("\n").split("\t")
    try:
        with urllib.request.urlopen(f"{api}/v1/phones/{mac}", timeout=5) as r:
            d = json.load(r)
    except OSError: # not known yet (404) or not answering
        sys.exit(1)
    rem = d.get("remediation") or {}
    if role == "honours" and rem.get("drift") != "resolved":
        sys.exit(1)
    if role == "ignores" and rem.get("drift") != "open":
        sys.exit(1)
    if role == "ignored_param" and not d["complete"]:
        sys.exit(1)
PY
}
ignorer=$(awk -F'\t' '$4 == "ignores" {print $1}' "$work/boot.tsv")
asked_twice() { [ "$(resync_count "$ignorer")" -ge 2 ]; }
step "waiting for the drift to be remediated"
pl_wait_until 120 "every honouring phone resolved, the ignoring one open" converged
pl_wait_until 60 "a second resync of the phone that ignores it" asked_twice

step "POST /v1/phones/{mac}/resync"
honour=$(awk -F'\t' '$4 == "honours" {print $1; exit}' "$work/boot.tsv")
before=$(resync_count "$honour")
code=$(curl -sS -o "$work/post.json" -w '%{http_code}' --max-time 10 -X POST \
    "$api/v1/phones/$honour/resync")
[ "$code" = 202 ] || fail "POST resync answered $code: $(cat "$work/post.json")"
asked_again() { [ "$(resync_count "$honour")" -gt "$before" ]; }
pl_wait_until 30 "the resync asked through the API" asked_again
api_trigger() {
    curl -fsS --max-time 5 "$api/v1/phones/$honour" | grep -q '"trigger":"api"'
}
pl_wait_until 30 "the API's resync recorded" api_trigger

"$py" - "$api" "$work/boot.tsv" "$work/sim.log" "$interval" <<'PY' || fail "remediation checks"
import json, sys, urllib.request
api, boot, simlog, interval = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
def get(path):
    with urllib.request.urlopen(api + path, timeout=10) as r:
        return json.load(r)
events = [json.loads(l) for l in open(simlog) if l.startswith("{")]
problems = []
for line in open(boot):
    mac, _, _, role = line.rstrip("\n").split("\t")
    d = get(f"/v1/phones/{mac}")
    rem = d.get("remediation")
    mine = [e for e in events if e["mac"] == mac and e["result"].startswith("resync")]
    if role == "honours":
        if not any(e["result"] == "resynced" for e in mine):
            problems.append(f"{mac}: never resynced: {mine}")
        cfg = get(f"/v1/phones/{mac}/config")
        if cfg["params"].get("Station_Name") != "Remediated":
            problems.append(f"{mac}: Station_Name {cfg['params'].get('Station_Name')}")
        if get(f"/v1/drift?mac={mac}")["drift"]:
            problems.append(f"{mac}: drift still open")
        if not rem or rem.get("outcome") != "accepted" or rem.get("drift") != "resolved":
            problems.append(f"{mac}: remediation {rem}")
    elif role == "ignores":
        if not rem or rem.get("outcome") != "accepted" or rem.get("drift") != "open" \
                or rem.get("trigger") != "drift" or rem.get("params") != ["Station_Name"]:
            problems.append(f"{mac}: remediation {rem}")
        at = [e["at_ms"] for e in mine]
        if len(at) < 2 or any(e["result"] != "resync_ignored" for e in mine):
            problems.append(f"{mac}: resyncs {mine}")
        # once per interval and no more often
        for a, b in zip(at, at[1:]):
            if (b - a) / 1000.0 < interval:
                problems.append(f"{mac}: two resyncs {b - a} ms apart (interval {interval} s)")
    else:
        if mine:
            problems.append(f"{mac}: resynced for an ignored parameter: {mine}")
        if not rem or "every drifted parameter is in remediate-ignore" not in rem.get("skipped", ""):
            problems.append(f"{mac}: remediation {rem}")
for p in problems:
    print("remediate: " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
remediations() { pl_metric "$api_port" phonereport_sink_remediations_total "outcome=\"$1\""; }
[ "$(remediations accepted)" -ge 4 ] && [ "$(remediations skipped)" -ge 1 ] ||
    fail "metrics: accepted $(remediations accepted), skipped $(remediations skipped)"

step "stopping the roles (SIGTERM)"
pl_stop ingest decoder sink
step "PASS"
