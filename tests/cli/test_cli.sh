#!/usr/bin/env bash
# test_cli.sh - the phonereport command line: usage and version, --help of every role, bad
# configuration reported all at once with exit 78 before anything listens, --print-config
# with secrets masked, and a clean SIGTERM of `run` on the embedded broker (its banner with and
# without --api-tokens).
#   test_cli.sh PATH/TO/phonereport
set -uo pipefail
. "$(dirname "$0")/../support/timeout.sh"
B=$(realpath "$1")
pass=0 fail=0
ok() { pass=$((pass + 1)); }
no() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
expect_exit() { # code description cmd...
    local want=$1 what=$2; shift 2
    "$@" >/tmp/pr-cli-out.$$ 2>/tmp/pr-cli-err.$$
    local got=$?
    if [ "$got" -eq "$want" ]; then ok; else no "$what: exit $got, wanted $want"; cat /tmp/pr-cli-err.$$ >&2; fi
}
expect_err() { # text description
    if grep -qF -- "$1" /tmp/pr-cli-err.$$; then ok; else no "$2: stderr lacks '$1'"; cat /tmp/pr-cli-err.$$ >&2; fi
}

expect_exit 64 "no command" "$B"
expect_exit 64 "unknown command" "$B" frobnicate
expect_err "unknown command 'frobnicate'" "unknown command"
expect_exit 0 "--version" "$B" --version
grep -q '^phonereport [0-9]' /tmp/pr-cli-out.$$ && ok || no "--version prints no version"
for c in run ingest decode sink rule; do
    expect_exit 0 "$c --help" "$B" "$c" --help
    grep -q "usage: phonereport $c" /tmp/pr-cli-out.$$ && ok || no "$c --help has no usage line"
done

# Every problem at once, from the loader and from the role's own checks; exit 78.
expect_exit 78 "ingest bad config" "$B" ingest --brokers 127.0.0.1:1 --max-body-bytes 0 \
    --listen nope --auth-scheme foo --no-such-flag
expect_err "--max-body-bytes (flag): 0 is out of range" "ingest bad size"
expect_err "unknown option --no-such-flag" "ingest unknown flag"
expect_err "'nope' lacks :port" "ingest bad listen"
expect_err "'foo' is not basic or digest" "ingest bad auth scheme"
expect_exit 78 "decode without brokers" "$B" decode
expect_err "--brokers is required" "decode without brokers"
expect_exit 78 "decode missing keystore" "$B" decode --brokers 127.0.0.1:1 --decoder-keystore /nonexistent/k.json
expect_err "/nonexistent/k.json" "decode missing keystore"
expect_exit 78 "sink bad sync" "$B" sink --brokers 127.0.0.1:1 --sink-sync maybe
expect_err "'maybe' is not full or normal" "sink bad sync"
expect_exit 78 "sink bad store" "$B" sink --brokers 127.0.0.1:1 --sink-store mysql://db
expect_err "'mysql://db' is neither sqlite nor a postgresql:// connection string" "sink bad store"
expect_exit 78 "sink remediation without its parts" "$B" sink --brokers 127.0.0.1:1 \
    --remediate-drift resync
expect_err "remediate-drift resync needs rebaseline-credentials" "sink remediation needs"
expect_exit 78 "sink remediation ignore list" "$B" sink --brokers 127.0.0.1:1 \
    --remediate-ignore 'A,,B'
expect_err "remediate-ignore: expected up to 64 names or globs" "sink remediation ignore list"
expect_exit 78 "sink bad remediation mode" "$B" sink --brokers 127.0.0.1:1 --remediate-drift fix
expect_err "'fix' is not off or resync" "sink bad remediation mode"
PHONEREPORT_SINK_BATCH_MAX=0 expect_exit 78 "bad env value" "$B" sink --brokers 127.0.0.1:1
expect_err "env PHONEREPORT_SINK_BATCH_MAX" "bad env value names the variable"
expect_exit 78 "run bad partitions" "$B" run --embedded-partitions 0
# kafka.* properties librdkafka refuses are configuration errors too, found before start
expect_exit 78 "unknown kafka property" "$B" ingest --brokers 127.0.0.1:1 --listen 127.0.0.1:0 \
    --kafka.no.such.prop 1
expect_err "kafka.no.such.prop: No such configuration property" "unknown kafka property"
PHONEREPORT_KAFKA_LINGER_MS=soon expect_exit 78 "bad kafka value" "$B" sink --brokers 127.0.0.1:1 \
    --api-listen 127.0.0.1:0
expect_err "kafka.linger.ms" "bad kafka value"
cfg=$(mktemp)
echo '{"api-listen": "127.0.0.1:0", "sink-batch-maxx": 3}' >"$cfg"
expect_exit 78 "unknown key in config file" "$B" sink --brokers 127.0.0.1:1 --config "$cfg"
expect_err "unknown key 'sink-batch-maxx'" "unknown key in config file"
rm -f "$cfg"

# decode has no HTTP port of its own: --metrics-listen serves /metrics for it.
expect_exit 78 "bad metrics-listen" "$B" decode --brokers 127.0.0.1:1 --metrics-listen nope
expect_err "metrics-listen: 'nope' lacks :port" "bad metrics-listen"
dlog=$(mktemp)
"$B" decode --brokers 127.0.0.1:1 --metrics-listen 127.0.0.1:0 2>"$dlog" &
dpid=$!
got=0
for _ in $(seq 1 "$(pr_scaled 300)"); do
    mport=$(sed -n 's/.*"msg":"serving metrics".*"metrics_port":\([0-9]*\).*/\1/p' "$dlog" | head -1)
    if [ -n "$mport" ]; then
        got=$(curl -fsS "http://127.0.0.1:$mport/metrics" | grep -c '^# TYPE phonereport_decoder')
        break
    fi
    kill -0 $dpid 2>/dev/null || break
    sleep 0.1
done
[ "${got:-0}" -gt 0 ] && ok || { no "decode --metrics-listen serves no decoder metrics"; tail -5 "$dlog" >&2; }
# Kafka is unreachable here: the stop still completes (start-up waits in short slices).
kill -TERM $dpid; wait $dpid; rc=$?
[ "$rc" -eq 0 ] && ok || { no "decode exited $rc after SIGTERM"; tail -5 "$dlog" >&2; }
rm -f "$dlog"

# print-config: resolved values, secrets masked
PHONEREPORT_KAFKA_SASL_PASSWORD=hunter2 expect_exit 0 "print-config" "$B" sink \
    --brokers b:1 --sink-batch-max 7 --print-config
grep -q '"sink-batch-max": 7' /tmp/pr-cli-out.$$ && ok || no "print-config lacks the flag value"
grep -q hunter2 /tmp/pr-cli-out.$$ && no "print-config shows a secret" || ok
# A password inside the PostgreSQL connection string (URI userinfo, URI query, keyword form).
for store in 'postgresql://pr:hunter3@127.0.0.1:1/db' \
    'postgresql://pr@127.0.0.1:1/db?password=hunter3&connect_timeout=2' \
    'postgresql://pr@127.0.0.1:1/db?connect_timeout=2&password=hunter3'; do
    expect_exit 0 "print-config of $store" "$B" sink --brokers b:1 --sink-store "$store" --print-config
    grep -q hunter3 /tmp/pr-cli-out.$$ && no "print-config shows the store's password ($store)" || ok
    grep -q 'postgresql://pr' /tmp/pr-cli-out.$$ && ok || no "print-config hides the store's address"
done
expect_exit 78 "a mistyped store scheme" "$B" sink --brokers b:1 --sink-store 'pgsql://pr:hunter3@h/db'
expect_err "sink-store: 'pgsql://pr:***@h/db' is neither" "a mistyped store scheme"
grep -q hunter3 /tmp/pr-cli-err.$$ && no "the store error shows the password" || ok
# Nor does a sink that cannot reach that store log it (exit 75: not reachable yet).
expect_exit 75 "sink with an unreachable store" "$B" sink --brokers 127.0.0.1:1 \
    --api-listen 127.0.0.1:0 --sink-store 'postgresql://pr:hunter3@127.0.0.1:1/db?connect_timeout=2'
grep -q hunter3 /tmp/pr-cli-err.$$ && no "a log line shows the store's password" || ok

# run on the embedded broker starts, answers /healthz, and stops cleanly on SIGTERM; its
# banner says whether the API asks for credentials.
run_and_stop() { # extra run arguments...
    dir=$(mktemp -d)
    ( cd "$dir" && exec "$B" run --listen 127.0.0.1:0 --api-listen 127.0.0.1:0 "$@" ) >"$dir/out" 2>"$dir/err" &
    pid=$!
    port=""
    for _ in $(seq 1 "$(pr_scaled 200)"); do
        port=$(sed -n 's/.*"msg":"started".*"ingest_port":\([0-9]*\).*/\1/p' "$dir/err" | head -1)
        [ -n "$port" ] && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
    done
    if [ -n "$port" ] && curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null; then ok; else no "run did not serve /healthz"; fi
    kill -TERM $pid
    for _ in $(seq 1 "$(pr_scaled 300)"); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
    if kill -0 $pid 2>/dev/null; then no "run did not stop within $(pr_scaled 30) s of SIGTERM"; kill -KILL $pid; fi
    wait $pid; rc=$?
    [ "$rc" -eq 0 ] && ok || no "run exited $rc after SIGTERM"
    grep -q '"msg":"stopped"' "$dir/err" && ok || no "run did not log its clean stop"
}
run_and_stop
grep -q "keeps NOTHING across restarts" "$dir/out" && ok || no "run does not warn about the embedded broker"
grep -q "<Report_Rule" "$dir/out" && ok || no "run does not print the Report_Rule snippet"
grep -q "The API answers without credentials" "$dir/out" && ok || no "run without --api-tokens does not say its API is open"
rm -rf "$dir"
tokens=$(mktemp)
echo "ops:admin:a-long-random-secret-0123456789" >"$tokens"
chmod 600 "$tokens"
run_and_stop --api-tokens "$tokens"
grep -q "without credentials" "$dir/out" && no "run with --api-tokens says its API has no credentials" || ok
grep -q "The API asks for a token or password from --api-tokens" "$dir/out" && ok || no "run with --api-tokens does not say so"
rm -rf "$dir" "$tokens"
rm -f /tmp/pr-cli-out.$$ /tmp/pr-cli-err.$$
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
