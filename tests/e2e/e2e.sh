#!/usr/bin/env bash
# e2e.sh - the end-to-end test: ingest, two decoders and the sink as separate processes on the
# real broker, a simulated fleet with every kind, method and encryption (plus a small fleet
# answering HTTP Digest challenges of a second ingest), a handful of invalid reports, and a
# kill -9 and restart of the sink and one decoder in the middle of the traffic.
#
#   e2e.sh PHONEREPORT_BINARY PHONEREPORT_SIM_BINARY
#
# Passes only if:
#   - every report of both fleets got a 2xx (phonereport-sim play exits 0);
#   - every acknowledged report is on phonereport.raw, keyed by its phone's MAC;
#   - `phonereport-sim verify` finds 0 mismatches between the sink's API and the fleet, and
#     each phone's version is the number of its acknowledged configuration reports (none
#     applied twice or skipped across the sink's kill -9);
#   - phonereport.raw holds exactly the acknowledged reports, and config + status + dlq
#     together exactly one output per raw record (read_committed, so nothing twice after the
#     decoder's kill -9);
#   - the DLQ holds exactly the invalid reports, each with the expected reason code;
#   - every role then stops on SIGTERM with status 0 and no sanitizer report.
# Needs PHONEREPORT_TEST_BROKERS (tests/kafka/broker.sh run -- ...): without it the test FAILS.
#
# Knobs (environment): PR_E2E_PHONES (300), PR_E2E_DURATION_S (30), PR_E2E_RATE (150),
# PR_E2E_KEEP=1 keeps the work directory and logs, PR_E2E_PLAY_ARGS adds arguments to
# `phonereport-sim play` (e.g. "--content-encoding-header always" to narrow down a failure).
set -euo pipefail
. "$(dirname "$0")/../support/pipeline.sh"

pl_test e2e "${PR_E2E_KEEP:-0}" "$@"

phones=${PR_E2E_PHONES:-300}
duration=${PR_E2E_DURATION_S:-30}
rate=${PR_E2E_RATE:-150}

sink_phones() { pl_metric "$api_port" phonereport_sink_phones; }
sink_has_at_least() { [ "$(sink_phones)" -ge "$1" ]; }

pl_addresses
auth_port=$(pl_free_port)
auth_password="pw-$seed"
(umask 077 && printf 'phone:%s\n' "$auth_password" >"$work/ingest-auth.creds")
pl_roles "$bin" --log-level info

start_decoder() { # N
    pl_decoder "decoder$1" "$1" --decoder-keystore "$work/keystore.json"
}
start_sink() { pl_sink sink "$api_port" --data-dir "$work/sink-data"; }

step "work $work, prefix $prefix, seed $seed, $phones phones for ${duration}s at <= ${rate}/s"
pl_sim_keys "$sim" "$phones" mixed

step "starting ingest (:$ingest_port), ingest with Digest auth (:$auth_port), two decoders," \
    "sink (:$api_port)"
pl_ingest ingest "$ingest_port"
# A second edge on the same topics that challenges phones (HTTP Digest, the default scheme).
pl_ingest ingest_auth "$auth_port" --auth-file "$work/ingest-auth.creds" --auth-scheme digest
start_decoder 1
start_decoder 2
start_sink
pl_wait_ready 120 "http://127.0.0.1:$ingest_port/readyz" "http://127.0.0.1:$auth_port/readyz"
pl_wait_until 120 "sink /healthz" pl_http_ok "$api/healthz"

step "playing the fleet"
# shellcheck disable=SC2086 # PR_E2E_PLAY_ARGS is a list of arguments
pl_spawn play "$sim" play --url "$edge" --phones "$phones" \
    --seed "$seed" --duration-s "$duration" --rate "$rate" --deltas 4 --status-every-s 8 \
    --method mixed --encrypt mixed --workers 16 --expect-out "$work/expect.json" \
    --stats-out "$work/play-stats.json" --journal-out "$work/journal.jsonl" ${PR_E2E_PLAY_ARGS:-}
# A smaller fleet (other seed, so other MACs) that answers the edge's Digest challenge.
pl_spawn play_auth "$sim" play --url "http://127.0.0.1:$auth_port/reports" --phones 20 \
    --seed $((seed + 1)) --duration-s "$duration" --rate 20 --deltas 3 --status-every-s 10 \
    --method mixed --encrypt none --auth digest --user phone --password "$auth_password" \
    --workers 2 --expect-out "$work/expect-auth.json" --stats-out "$work/play-auth-stats.json" \
    --journal-out "$work/journal-auth.jsonl"

"$sim" bad --url "http://127.0.0.1:$ingest_port/r" --count-out "$work/bad.json" \
    >"$work/bad.log" 2>&1 || fail "phonereport-sim bad: $(cat "$work/bad.log")"

# In the middle: once the sink holds a third of the fleet, while the fleet still sends.
pl_wait_until 180 "the sink to hold $((phones / 3)) phones" sink_has_at_least $((phones / 3))
kill -0 "${pids[play]}" 2>/dev/null || fail "the fleet finished before the restart: not a mid-run restart"
step "kill -9 of the sink ($(sink_phones) phones held) and of decoder 1, then restart"
pl_kill9 sink
pl_kill9 decoder1
start_sink
start_decoder 1
pl_wait_until 120 "the restarted sink's /healthz" pl_http_ok "http://127.0.0.1:$api_port/healthz"
kill -0 "${pids[play]}" 2>/dev/null || fail "the fleet finished before the roles were back"

step "waiting for the fleets"
play_rc=0 play_auth_rc=0
pl_wait play || play_rc=$?
pl_wait play_auth || play_auth_rc=$?
if [ "$play_rc" != 0 ]; then
    cat "$work/play.log" >&2
    fail "phonereport-sim play: some reports were not acknowledged"
fi
if [ "$play_auth_rc" != 0 ]; then
    cat "$work/play_auth.log" >&2
    fail "phonereport-sim play (Digest auth): some reports were not acknowledged"
fi
cat "$work/play.log" "$work/play_auth.log" >&2
"$py" - "$work" <<'PY' || fail "the two fleets share a MAC"
import json, sys
w = sys.argv[1]
a, b = (json.load(open(f"{w}/{n}")) for n in ("expect.json", "expect-auth.json"))
if set(a) & set(b):
    sys.exit(1)
a.update(b)
json.dump(a, open(f"{w}/expect-all.json", "w"))
PY

step "verify"
verified=1
"$sim" verify --api "http://127.0.0.1:$api_port" --expect "$work/expect-all.json" --timeout-s "$(pr_scaled 180)" \
    >"$work/verify.log" 2>&1 || verified=0
[ "$verified" = 1 ] || head -n 60 "$work/verify.log" >&2
tail -n 1 "$work/verify.log" >&2

# The records are counted even when verify failed: they tell which role lost what.
step "counting records (read_committed)"
# The DLQ: poll until it holds the expected number, then check exactly.
want_dlq=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["count"])' "$work/bad.json")
[ "$want_dlq" -ge 5 ] || fail "the edge refused bad reports it should accept (bad.json: $want_dlq)"
dlq_ready() { [ "$(pl_kcat_count "${prefix}dlq")" -ge "$want_dlq" ]; }
pl_wait_until 120 "$want_dlq records in ${prefix}dlq" dlq_ready
# raw bodies are binary (encrypted): only partition, offset, key and headers are kept.
kcat -C -b "$brokers" -t "${prefix}raw" -o beginning -e -q -X isolation.level=read_committed \
    -f '%p\t%o\t%k\t%h\n' >"$work/raw.tsv" 2>/dev/null || true
for t in config status dlq; do
    pl_kcat_dump "$prefix$t" >"$work/$t.jsonl"
done

"$py" - "$work" "$api_port" <<'PY'
import json, sys, collections, urllib.request
work, api_port = sys.argv[1], sys.argv[2]
import re
def records(t):
    out = []
    for line in open(f"{work}/{t}.jsonl", encoding="utf-8", errors="replace"):
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out
raw = []
for line in open(f"{work}/raw.tsv", encoding="utf-8", errors="replace"):
    parts = line.rstrip("\n").split("\t", 3)
    if len(parts) == 4 and parts[0].isdigit():
        m = re.search(r"pr-request-id=([0-9A-Za-z-]+)", parts[3])
        raw.append({"partition": int(parts[0]), "offset": int(parts[1]), "key": parts[2],
                    "request_id": m.group(1) if m else None})
stats = collections.Counter()
journal = []
for fleet in ("", "-auth"):
    stats.update(json.load(open(f"{work}/play{fleet}-stats.json")))
    journal += [json.loads(l) for l in open(f"{work}/journal{fleet}.jsonl") if l.strip()]
bad = json.load(open(f"{work}/bad.json"))
config, status, dlq = (records(t) for t in ("config", "status", "dlq"))
problems = []

# Nothing acknowledged is lost: every 2xx the fleet got is on raw, under the phone's MAC.
on_raw = collections.Counter(r["request_id"] for r in raw)
raw_key = {r["request_id"]: r["key"] for r in raw}
missing = [j for j in journal if on_raw[j["request_id"]] == 0]
if missing:
    problems.append(f"{len(missing)} acknowledged reports are not on raw, e.g. {missing[:2]}")
wrong_key = [j for j in journal if j["request_id"] in raw_key and raw_key[j["request_id"]] != j["mac"]]
if wrong_key:
    problems.append(f"{len(wrong_key)} raw records keyed by another MAC, e.g. {wrong_key[:2]}")

acked = stats["ok_full"] + stats["ok_delta"] + stats["ok_status"]
bad_acked = sum(1 for e in bad["expected"] if 200 <= e["http_status"] < 300)
# A retry after a transport failure may publish a report twice; there must be none here.
if stats["maybe_delivered_retries"] != 0:
    problems.append(f"{stats['maybe_delivered_retries']} retries after transport failures")
# Every acknowledged report is on raw. Exactly, when no request was retried: a 503 is never
# an acknowledgement, but a record refused that way may still have reached Kafka late.
exact = stats["retried"] == 0
if len(raw) < acked + bad_acked or (exact and len(raw) != acked + bad_acked):
    problems.append(f"raw holds {len(raw)} records, the edge acknowledged {acked} + {bad_acked}")
ok_config = stats["ok_full"] + stats["ok_delta"]
if len(config) < ok_config or (exact and len(config) != ok_config):
    problems.append(f"config holds {len(config)} events, {ok_config} config reports were"
                    " acknowledged")
if len(status) < stats["ok_status"] or (exact and len(status) != stats["ok_status"]):
    problems.append(f"status holds {len(status)} events, {stats['ok_status']} acknowledged")
if len(config) + len(status) + len(dlq) != len(raw):
    problems.append(f"outputs {len(config)}+{len(status)}+{len(dlq)} != raw {len(raw)}")

# Exactly once per raw record: each raw (partition, offset) appears once among the outputs.
seen = collections.Counter()
for rec in config + status + dlq:
    v = json.loads(rec["payload"])
    r = v.get("raw", {})
    seen[(r.get("partition"), r.get("offset"))] += 1
dups = [k for k, n in seen.items() if n > 1]
if dups:
    problems.append(f"{len(dups)} raw records produced more than one output, e.g. {dups[:3]}")

want = collections.Counter((e["mac"], e["reason"]) for e in bad["expected"] if e["reason"])
got = collections.Counter()
for rec in dlq:
    v = json.loads(rec["payload"])
    got[(v.get("mac"), v.get("reason"))] += 1
for k in want:
    if got[k] != want[k]:
        problems.append(f"DLQ: expected {want[k]} x {k}, found {got[k]}")
for rec in dlq:
    v = json.loads(rec["payload"])
    if (v.get("mac"), v.get("reason")) not in want:
        problems.append(f"DLQ: unexpected {v.get('reason')} for {v.get('mac')} ({v.get('detail')};"
                        f" raw {v.get('raw')}, headers {v.get('headers')})")

# Exactly once into state: each phone's version counts the configuration reports applied, so
# a report applied twice across the sink's kill -9 (same values, invisible to verify) or
# skipped shows here; complete is true once a full report was applied.
want_version = collections.Counter(j["mac"] for j in journal if j["kind"] in ("full", "delta"))
want_complete = {j["mac"] for j in journal if j["kind"] == "full"}
bad_version = []
for mac, n in sorted(want_version.items()):
    with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/v1/phones/{mac}/config",
                                timeout=10) as r:
        doc = json.load(r)
    if (exact and doc.get("version") != n) or doc.get("complete") != (mac in want_complete):
        bad_version.append((mac, n, doc.get("version"), doc.get("complete")))
if bad_version:
    problems.append(f"{len(bad_version)} phones with another version/complete than applied "
                    f"(mac, expected version, version, complete), e.g. {bad_version[:3]}")

print(f"e2e: raw {len(raw)}, config {len(config)}, status {len(status)}, dlq {len(dlq)}; "
      f"play acknowledged {acked}, bad {bad_acked}", file=sys.stderr)
for p in problems:
    print("e2e: " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
[ "$verified" = 1 ] || fail "verify found mismatches (verify.log)"

# Every role stops cleanly on SIGTERM: exit status 0, and no sanitizer report in its log.
step "stopping the roles (SIGTERM)"
pl_stop ingest ingest_auth decoder1 decoder2 sink
step "PASS"
