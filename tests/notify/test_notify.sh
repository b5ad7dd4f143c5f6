#!/usr/bin/env bash
# test_notify.sh - `phonereport notify` as an operator meets it.
#   test_notify.sh cli PHONEREPORT PYTHON   help, usage (64) and configuration (78) errors
#   test_notify.sh sip PHONEREPORT PYTHON [PHONEREPORT-SIM]   against SIPp playing the phone
#       (Digest checked by SIPp's own verifyauth; 403, 481, silence, garbage, a closed port),
#       against a fake of the sink's API (tests/phonesim/fake_api.py) for --mac, --all and
#       --proxy, and against `phonereport-sim sip` (phones that then upload their full report
#       to a stand-in edge, receiver.py).
# SIPp and the fake API bind free loopback ports; both are killed on exit, whatever happens.
# Timers are short (--t1 20ms: Timer F = 1.28 s), so the silent phone costs about a second.
set -uo pipefail
MODE=$1
B=$(realpath "$2")
PY=${3:-python3}
HERE=$(cd "$(dirname "$0")" && pwd)
SIPP_DIR=$HERE/sipp
FAKE_API=$HERE/../phonesim/fake_api.py
T=$(mktemp -d "${TMPDIR:-/tmp}/pr-notify.XXXXXX")
pass=0 fail=0
SIM=${4:-}
SIPP_PID="" API_PID="" SIM_PID="" RECV_PID=""

cleanup() {
    [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null
    [ -n "$RECV_PID" ] && kill "$RECV_PID" 2>/dev/null && wait "$RECV_PID" 2>/dev/null
    [ -n "$SIPP_PID" ] && kill "$SIPP_PID" 2>/dev/null && wait "$SIPP_PID" 2>/dev/null
    [ -n "$API_PID" ] && kill "$API_PID" 2>/dev/null && wait "$API_PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); }
no() {
    fail=$((fail + 1))
    echo "FAIL: $*" >&2
    sed 's/^/  stdout: /' "$T/out" >&2
    tail -5 "$T/err" | sed 's/^/  stderr: /' >&2
}
# expect_exit CODE DESCRIPTION CMD... : runs CMD with stdout in $T/out, stderr in $T/err
expect_exit() {
    local want=$1 what=$2
    shift 2
    "$@" >"$T/out" 2>"$T/err"
    local got=$?
    if [ "$got" -eq "$want" ]; then ok; else no "$what: exit $got, wanted $want"; fi
}
expect_err() { if grep -qF -- "$1" "$T/err"; then ok; else no "$2: stderr lacks '$1'"; fi; }
expect_out() { if grep -qF -- "$1" "$T/out"; then ok; else no "$2: stdout lacks '$1'"; fi; }
# expect_json DESCRIPTION PYTHON-EXPR : EXPR over `lines` (the JSON lines of $T/out) is true
expect_json() {
    if "$PY" - "$T/out" "$2" <<'EOF'; then ok; else no "$1: $2"; fi
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by_mac = {l.get("mac"): l for l in lines}
sys.exit(0 if eval(sys.argv[2]) else 1)
EOF
}

done_report() {
    echo "test_notify $MODE: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit $?
}

if [ "$MODE" = cli ]; then
    expect_exit 0 "notify --help" "$B" notify --help
    expect_out "usage: phonereport notify" "help has a usage line"
    for f in --target --mac --all --api --proxy --credentials --event --subscription-state \
        --concurrency --rate --t1 --timeout --sip-port --not-seen-for --incomplete --model; do
        expect_out "$f " "help explains $f"
    done
    expect_out "Event: report" "help says what is sent"
    "$B" --help >"$T/out" 2>&1
    expect_out "notify" "the command list names notify"

    # Usage: no target selector, two of them, filters without --all, --mac without --api.
    expect_exit 64 "no target" "$B" notify
    expect_err "give exactly one of --target, --mac, --all" "no target"
    expect_exit 64 "two selectors" "$B" notify --target sip:a@127.0.0.1 --all --api http://x
    expect_err "exactly one of" "two selectors"
    expect_exit 64 "filter without --all" "$B" notify --target sip:a@127.0.0.1 --incomplete
    expect_err "need --all" "filter without --all"
    expect_exit 64 "--mac without --api" "$B" notify --mac 00562b043615
    expect_err "need --api" "--mac without --api"

    # Configuration: malformed URI, MAC, API URL, missing or bad credentials file (78).
    expect_exit 78 "malformed --target" "$B" notify --target http://127.0.0.1/x
    expect_err "--target: 'http://127.0.0.1/x' is not a sip: URI" "malformed --target"
    expect_exit 78 "--target without host" "$B" notify --target "sip:"
    expect_err "--target:" "--target without host"
    expect_exit 78 "--target with a bad port" "$B" notify --target sip:a@127.0.0.1:99999
    expect_err "bad port" "--target with a bad port"
    expect_exit 78 "malformed --proxy" "$B" notify --target sip:a@127.0.0.1 --proxy nope
    expect_err "--proxy:" "malformed --proxy"
    expect_exit 78 "malformed --mac" "$B" notify --mac 00:11 --api http://127.0.0.1:1
    expect_err "--mac:" "malformed --mac"
    expect_exit 78 "bad --api" "$B" notify --mac 00562b043615 --api ftp://x
    expect_err "is not an http:// or https:// URL" "bad --api"
    expect_exit 78 "missing credentials file" "$B" notify --target sip:a@127.0.0.1 \
        --credentials "$T/nonexistent.json"
    expect_err "--credentials: credentials $T/nonexistent.json: cannot open" "missing credentials"
    printf '{"users": {"1001": {"pasword": "x"}}}' >"$T/typo.json"
    chmod 600 "$T/typo.json"
    expect_exit 78 "credentials with a typo" "$B" notify --target sip:a@127.0.0.1 \
        --credentials "$T/typo.json"
    expect_err 'unknown member "pasword"' "credentials with a typo"
    printf '{"phones": {"nope": {"password": "secret-value"}}}' >"$T/badmac.json"
    chmod 600 "$T/badmac.json"
    expect_exit 78 "credentials with a bad MAC" "$B" notify --target sip:a@127.0.0.1 \
        --credentials "$T/badmac.json"
    expect_err "phones.nope" "credentials with a bad MAC"
    if grep -q "secret-value" "$T/err"; then no "a password was printed"; else ok; fi
    expect_exit 78 "bad --t1" "$B" notify --target sip:a@127.0.0.1 --t1 0
    expect_err "--t1" "bad --t1"

    # Environment names: PHONEREPORT_NOTIFY_<OPTION>; the old short ones warn but still work.
    PHONEREPORT_NOTIFY_TARGET=http://127.0.0.1/x expect_exit 78 "env target" "$B" notify
    expect_err "--target: 'http://127.0.0.1/x' is not a sip: URI" "env PHONEREPORT_NOTIFY_TARGET read"
    PHONEREPORT_TARGET=http://127.0.0.1/x expect_exit 78 "old env target" "$B" notify
    expect_err "PHONEREPORT_TARGET is deprecated: use PHONEREPORT_NOTIFY_TARGET" "old name warns"
    "$B" notify --help >"$T/out" 2>&1
    expect_out "env PHONEREPORT_NOTIFY_API_TOKEN" "help names the token's environment variable"

    # A sink whose API asks for tokens (`run` on its embedded broker): without a token notify
    # gets 401; with --api-token-file or PHONEREPORT_NOTIFY_API_TOKEN it is let in (the phone
    # is unknown to the empty store: unknown_phone); the token appears in no output.
    secret=notify-token-5f3a9c
    printf 'ops:read:%s\n' "$secret" >"$T/tokens"
    printf '%s\n' "$secret" >"$T/token"
    chmod 600 "$T/tokens" "$T/token"
    mkdir "$T/run"
    (cd "$T/run" && exec "$B" run --listen 127.0.0.1:0 --api-listen 127.0.0.1:0 \
        --api-tokens "$T/tokens") >"$T/run.out" 2>"$T/run.err" &
    API_PID=$!
    port=""
    for _ in $(seq 1 600); do
        port=$(sed -n 's/.*"msg":"started".*"api_port":\([0-9]*\).*/\1/p' "$T/run.err" | head -1)
        [ -n "$port" ] && break
        kill -0 "$API_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        no "the sink did not start"
        tail -5 "$T/run.err" >&2
    else
        api=http://127.0.0.1:$port
        expect_exit 1 "no token" "$B" notify --mac 00562b043615 --api "$api"
        expect_json "no token: 401" 'lines[0]["result"] == "api_error" and "401" in lines[0]["reason"]'
        expect_exit 1 "--api-token-file" "$B" notify --mac 00562b043615 --api "$api" \
            --api-token-file "$T/token" --log-level debug
        expect_json "--api-token-file: let in" 'lines[0]["result"] == "unknown_phone"'
        if grep -q "$secret" "$T/out" "$T/err"; then no "the token was printed"; else ok; fi
        PHONEREPORT_NOTIFY_API_TOKEN=$secret expect_exit 0 "env token, --all" "$B" notify --all \
            --api "$api" --log-level debug
        expect_err "no phone matched" "env token: the list was read"
        if grep -q "$secret" "$T/out" "$T/err"; then no "the token was printed"; else ok; fi
        PHONEREPORT_API=$api expect_exit 1 "old env api" "$B" notify --mac 00562b043615 \
            --api-token-file "$T/token"
        expect_err "PHONEREPORT_API is deprecated" "old PHONEREPORT_API warns"
        expect_json "old env api: read" 'lines[0]["result"] == "unknown_phone"'
        expect_exit 78 "unreadable token file" "$B" notify --mac 00562b043615 --api "$api" \
            --api-token-file "$T/nonexistent"
        expect_err "--api-token-file: cannot read" "unreadable token file"
        if grep -q "$secret" "$T/run.err"; then no "the sink logged the token"; else ok; fi
    fi
    done_report
fi

[ "$MODE" = sip ] || { echo "usage: test_notify.sh cli|sip PHONEREPORT [PYTHON]" >&2; exit 64; }
command -v sipp >/dev/null || { echo "FAIL: sipp (Debian sip-tester) is not installed" >&2; exit 1; }

free_udp_port() {
    "$PY" -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_sipp SCENARIO [tcp] : SIPp as the phone on a free loopback port (UDP, or TCP with
# one connection); waits until it listens.
start_sipp() {
    local tries mode=u1 ssflag=-ulnp
    [ "${2:-}" = tcp ] && mode=t1 ssflag=-tlnp
    for tries in 1 2 3; do
        SIPP_PORT=$(free_udp_port)
        # SIPp also binds a control port (default 8888) and RTP ports (6000...): free ones too
        (cd "$T" && exec sipp -sf "$1" -t $mode -i 127.0.0.1 -p "$SIPP_PORT" -mi 127.0.0.1 \
            -mp "$(free_udp_port)" -cp "$(free_udp_port)" -nostdin -trace_err \
            ${SIPP_TRACE:+-trace_msg} >"$T/sipp.out" 2>&1) &
        SIPP_PID=$!
        for _ in $(seq 1 100); do
            if ss -H $ssflag 2>/dev/null | grep -q "127.0.0.1:$SIPP_PORT .*pid=$SIPP_PID,"; then
                return 0
            fi
            kill -0 "$SIPP_PID" 2>/dev/null || break
            sleep 0.05
        done
        kill "$SIPP_PID" 2>/dev/null
        wait "$SIPP_PID" 2>/dev/null
        SIPP_PID=""
    done
    echo "FAIL: SIPp did not start" >&2
    cat "$T/sipp.out" >&2
    exit 1
}
stop_sipp() {
    [ -n "$SIPP_PID" ] && kill "$SIPP_PID" 2>/dev/null && wait "$SIPP_PID" 2>/dev/null
    SIPP_PID=""
}
# notify ARGS... : the command with the test's short timers, from loopback
notify() { "$B" notify --bind 127.0.0.1 --t1 20ms "$@"; }

printf '{"users": {"1001": {"password": "s3cret-1001"}}}' >"$T/creds.json"
printf '{"users": {"1001": {"password": "not-the-one"}}}' >"$T/wrong.json"
printf '{"default": {"user": "1001", "password": "s3cret-1001"}}' >"$T/default.json"
printf '{"phones": {"02:00:00:00:00:01": {"user": "1001", "password": "s3cret-1001"}}}' \
    >"$T/bymac.json"
chmod 600 "$T/creds.json" "$T/wrong.json" "$T/bymac.json" "$T/default.json"

# The phone challenges; the NOTIFY retried with the right credentials is accepted (SIPp checks
# the digest: verifyauth), with wrong ones refused (403).
start_sipp "$SIPP_DIR/auth.xml"
expect_exit 0 "challenge answered" notify --target "sip:1001@127.0.0.1:$SIPP_PORT" \
    --credentials "$T/creds.json"
expect_json "challenge answered" \
    'len(lines) == 1 and lines[0]["result"] == "accepted" and lines[0]["status"] == 200 and lines[0]["challenged"] and lines[0]["mac"] is None'
if grep -q "s3cret" "$T/out" "$T/err"; then no "the password was printed or logged"; else ok; fi
expect_exit 1 "wrong credentials" notify --target "sip:1001@127.0.0.1:$SIPP_PORT" \
    --credentials "$T/wrong.json"
expect_json "wrong credentials" 'lines[0]["result"] == "refused" and lines[0]["status"] == 403 and lines[0]["challenged"]'
expect_exit 1 "no credentials" notify --target "sip:1001@127.0.0.1:$SIPP_PORT"
expect_json "no credentials" 'lines[0]["result"] == "refused" and lines[0]["status"] == 401 and "phones.test" in lines[0]["reason"]'
# SIPp checks the headers: another event gets 489, no Subscription-State a 400
expect_exit 1 "other event" notify --target "sip:1001@127.0.0.1:$SIPP_PORT" --event resync \
    --credentials "$T/creds.json"
expect_json "other event" 'lines[0]["status"] == 489'
expect_exit 1 "no Subscription-State" notify --target "sip:1001@127.0.0.1:$SIPP_PORT" \
    --subscription-state "" --credentials "$T/creds.json"
expect_json "no Subscription-State" 'lines[0]["status"] == 400'
# a group-readable credentials file is used, with a warning
chmod 640 "$T/creds.json"
expect_exit 0 "group-readable credentials" notify --target "sip:1001@127.0.0.1:$SIPP_PORT" \
    --credentials "$T/creds.json"
expect_err "credentials file is accessible by group or others" "group-readable credentials"
chmod 600 "$T/creds.json"
stop_sipp

# A proxy's 407: answered with Proxy-Authorization; the digest recomputed here from SIPp's trace.
printf '{"users": {"1001": {"password": "s3cret-1001", "realm": "proxy.test"}}}' >"$T/proxy.json"
chmod 600 "$T/proxy.json"
SIPP_TRACE=1 start_sipp "$SIPP_DIR/proxyauth.xml"
expect_exit 0 "407 answered" notify --target "sip:1001@127.0.0.1:$SIPP_PORT" \
    --credentials "$T/proxy.json"
expect_json "407 answered" 'lines[0]["result"] == "accepted" and lines[0]["challenged"]'
stop_sipp
if "$PY" - "$T" <<'EOF'; then ok; else no "the Proxy-Authorization digest does not check out"; fi
import glob, hashlib, re, sys
log = open(glob.glob(sys.argv[1] + "/proxyauth_*_messages.log")[0]).read()
h = re.search(r"^Proxy-Authorization: Digest (.*)$", log, re.M).group(1)
p = dict(re.findall(r'(\w+)="?([^",]*)"?', h))
md5 = lambda s: hashlib.md5(s.encode()).hexdigest()
ha1 = md5("1001:proxy.test:s3cret-1001")
ha2 = md5("NOTIFY:" + p["uri"])
want = md5(":".join([ha1, p["nonce"], p["nc"], p["cnonce"], p["qop"], ha2]))
sys.exit(0 if p["response"] == want and p["username"] == "1001" else 1)
EOF

# The same over TCP (--tcp opens it; a ;transport=tcp target without it has no transport).
start_sipp "$SIPP_DIR/auth.xml" tcp
expect_exit 0 "TCP" notify --target "sip:1001@127.0.0.1:$SIPP_PORT;transport=tcp" --tcp \
    --credentials "$T/creds.json"
expect_json "TCP" 'lines[0]["result"] == "accepted" and lines[0]["challenged"]'
expect_exit 1 "TCP target without --tcp" notify \
    --target "sip:1001@127.0.0.1:$SIPP_PORT;transport=tcp" --credentials "$T/creds.json"
expect_json "TCP target without --tcp" 'lines[0]["result"] == "unreachable" and "TCP" in lines[0]["reason"]'
stop_sipp

# Final answers other than 2xx: each is the phone's result, exit 1.
for answer in "403 Forbidden" "481 Call/Transaction Does Not Exist"; do
    code=${answer%% *}
    sed "s|@CODE@|$code|; s|@PHRASE@|${answer#* }|" "$SIPP_DIR/reply.xml" >"$T/reply$code.xml"
    start_sipp "$T/reply$code.xml"
    expect_exit 1 "phone answers $code" notify --target "sip:1001@127.0.0.1:$SIPP_PORT"
    expect_json "phone answers $code" "lines[0]['result'] == 'refused' and lines[0]['status'] == $code and lines[0]['reason'] == '${answer#* }'"
    stop_sipp
done

# A phone that never answers: timeout after Timer F (64*T1 = 1.28 s), not much later.
start_sipp "$SIPP_DIR/silent.xml"
expect_exit 1 "silent phone" notify --target "sip:1001@127.0.0.1:$SIPP_PORT"
expect_json "silent phone" 'lines[0]["result"] == "timeout" and lines[0]["status"] is None and 1200 <= lines[0]["elapsed_ms"] < 4000'
# --timeout cuts it shorter
expect_exit 1 "silent phone, --timeout" notify --target "sip:1001@127.0.0.1:$SIPP_PORT" --timeout 300ms
expect_json "silent phone, --timeout" 'lines[0]["result"] == "timeout" and "deadline" in lines[0]["reason"] and lines[0]["elapsed_ms"] < 1200'
stop_sipp

# A phone that answers garbage: no crash, no hang past Timer F, said so.
start_sipp "$SIPP_DIR/garbage.xml"
expect_exit 1 "garbage answer" notify --target "sip:1001@127.0.0.1:$SIPP_PORT" --concurrency 1
expect_json "garbage answer" 'lines[0]["result"] == "bad_response" and "unparseable" in lines[0]["reason"] and lines[0]["elapsed_ms"] < 4000'
expect_err "dropped SIP messages that were not valid answers" "garbage answer is logged"
stop_sipp

# A Digest algorithm the sender cannot compute: bad_response at once, not a timeout.
start_sipp "$SIPP_DIR/sha256.xml"
expect_exit 1 "SHA-256 challenge" notify --target "sip:1001@127.0.0.1:$SIPP_PORT" \
    --credentials "$T/creds.json"
expect_json "SHA-256 challenge" 'lines[0]["result"] == "bad_response" and lines[0]["status"] == 401 and "SHA-256" in lines[0]["reason"] and lines[0]["elapsed_ms"] < 1000'
stop_sipp

# Nobody listens: ICMP port unreachable -> unreachable, at once.
port=$(free_udp_port)
expect_exit 1 "closed port" notify --target "sip:1001@127.0.0.1:$port"
expect_json "closed port" 'lines[0]["result"] == "unreachable" and lines[0]["elapsed_ms"] < 1000'

# ---- targets from the sink's API (fake) -----------------------------------------------------
start_sipp "$SIPP_DIR/auth.xml"
cat >"$T/phones.json" <<EOF
{"020000000001": {"remote": "127.0.0.1:51234", "complete": false, "model": "CP-8841-3PCC",
                  "updated_at": "2020-01-01T00:00:00.000Z"},
 "020000000002": {"remote": "127.0.0.1", "complete": true, "model": "CP-8841-3PCC",
                  "updated_at": "2099-01-01T00:00:00.000Z"},
 "020000000003": {"complete": false, "model": "CP-6841-3PCC"},
 "020000000004": {"remote": null, "complete": true, "model": "CP-6841-3PCC"},
 "020000000005": {"remote": "127.0.0.1:40000", "complete": false, "model": "CP-6841-3PCC",
                  "updated_at": "2021-01-01T00:00:00.000Z"},
 "020000000006": {"remote": "[2001:db8::7]:40000", "complete": true, "model": "CP-7841-3PCC",
                  "updated_at": "2099-01-01T00:00:00.000Z"},
 "020000000007": {"remote": "2001:db8::9", "complete": true},
 "020000000008": {"remote": "not an address!", "complete": true}}
EOF
cat >"$T/configs.json" <<EOF
{"020000000001": {"mac": "020000000001", "params": {"User_ID_1_": "1001", "Proxy_1_": "pbx.test"}},
 "020000000003": {"mac": "020000000003", "params": {"User_ID_1_": "", "Proxy_1_": "pbx.test"}}}
EOF
"$PY" "$FAKE_API" "$T/configs.json" "$T/api.port" "$T/phones.json" 2 &
API_PID=$!
for _ in $(seq 1 100); do [ -s "$T/api.port" ] && break; sleep 0.05; done
API="http://127.0.0.1:$(cat "$T/api.port")"

# mac_case STATUS LABEL MAC CHECK: notify --mac MAC against the test's API and SIPp exits STATUS,
# and CHECK holds on the JSON lines it printed
mac_case() {
    expect_exit "$1" "$2" notify --mac "$3" --api "$API" --sip-port "$SIPP_PORT"
    expect_json "$2" "$4"
}

expect_exit 0 "--mac with a known address" notify --mac 02:00:00:00:00:01 --api "$API" \
    --sip-port "$SIPP_PORT" --credentials "$T/default.json"
expect_json "--mac with a known address" \
    "lines[0]['mac'] == '020000000001' and lines[0]['target'] == 'sip:127.0.0.1:$SIPP_PORT' and lines[0]['result'] == 'accepted'"
# credentials by MAC (the Request-URI has no user part here)
expect_exit 0 "credentials by MAC" notify --mac 020000000001 --api "$API" \
    --sip-port "$SIPP_PORT" --credentials "$T/bymac.json"
mac_case 1 "--mac unknown to the sink" 02000000000f 'lines[0]["result"] == "unknown_phone" and lines[0]["target"] is None and "does not know" in lines[0]["reason"]'
mac_case 1 "--mac without an address" 020000000003 'lines[0]["result"] == "no_address"'
mac_case 1 "--mac with a null address" 020000000004 'lines[0]["result"] == "no_address"'
# an IPv6 remote becomes a bracketed host (and this IPv4-only sender has no transport for it)
mac_case 1 "--mac with an IPv6 address" 020000000006 "lines[0]['target'] == 'sip:[2001:db8::7]:$SIPP_PORT' and lines[0]['result'] == 'unreachable'"
mac_case 1 "--mac with a bare IPv6 address" 020000000007 "lines[0]['target'] == 'sip:[2001:db8::9]:$SIPP_PORT'"
mac_case 1 "--mac with a malformed address" 020000000008 'lines[0]["result"] == "no_address" and "malformed" in lines[0]["reason"]'
expect_exit 1 "API unreachable" notify --mac 020000000001 --api "http://127.0.0.1:$(free_udp_port)" \
    --api-timeout 2s
expect_json "API unreachable" 'lines[0]["result"] == "api_error"'

# --all over pages of two: every phone gets a line; those without a usable address say so.
: >"$T/api.port.log"
expect_exit 1 "--all" notify --all --api "$API" --sip-port "$SIPP_PORT" \
    --credentials "$T/bymac.json" --concurrency 2 --rate 50
expect_json "--all" 'sorted(by_mac) == ["0200000000%02d" % i for i in range(1, 9)] and by_mac["020000000001"]["result"] == "accepted" and by_mac["020000000003"]["result"] == "no_address" and by_mac["020000000004"]["result"] == "no_address"'
if [ "$(grep -c '^/v1/phones?' "$T/api.port.log")" -eq 4 ]; then ok; else no "--all did not read 4 pages"; cat "$T/api.port.log" >&2; fi
# a summary with "remote" (even null) is used as is; only the one without it is fetched
if [ "$(grep '^/v1/phones/0' "$T/api.port.log" | tr '\n' ' ')" = "/v1/phones/020000000003 " ]; then ok
else no "--all fetched other phones than 020000000003 one by one"; cat "$T/api.port.log" >&2; fi
# phones 2 and 5: their requests have no user part and bymac.json has only phone 1: 401
expect_json "--all without credentials" 'by_mac["020000000002"]["status"] == 401 and by_mac["020000000005"]["status"] == 401'
expect_exit 1 "--all --not-seen-for" notify --all --not-seen-for 24h \
    --api "$API" --sip-port "$SIPP_PORT" --credentials "$T/bymac.json"
expect_json "--all --not-seen-for" 'sorted(by_mac) == ["020000000001", "020000000003", "020000000004", "020000000005", "020000000007", "020000000008"]'
expect_exit 0 "--all --model" notify --all --model CP-8841-3PCC --incomplete \
    --api "$API" --sip-port "$SIPP_PORT" --credentials "$T/bymac.json"
expect_json "--all --model" 'sorted(by_mac) == ["020000000001"]'
if grep -q 'model=CP-8841-3PCC' "$T/api.port.log"; then ok; else no "--model not passed to the API"; fi
stop_sipp

# --proxy: to the line's address of record User_ID_1_@Proxy_1_ through the proxy (SIPp checks
# the Request-URI and answers 200 only for sip:1001@pbx.test).
start_sipp "$SIPP_DIR/aor.xml"
expect_exit 0 "--proxy to the AOR" notify --mac 020000000001 --api "$API" \
    --proxy "sip:127.0.0.1:$SIPP_PORT"
expect_json "--proxy to the AOR" 'lines[0]["target"] == "sip:1001@pbx.test" and lines[0]["result"] == "accepted"'
expect_exit 1 "--proxy, line without User_ID" notify --mac 020000000003 --api "$API" \
    --proxy "sip:127.0.0.1:$SIPP_PORT"
expect_json "--proxy, line without User_ID" 'lines[0]["result"] == "no_address" and "User_ID_1_" in lines[0]["reason"]'
stop_sipp

# ---- phonereport-sim sip: challenge, digest, then the phone's full report ------------------
if [ -z "$SIM" ]; then
    no "phonereport-sim not given: the simulator's SIP phones were not tested"
    done_report
fi
SIM=$(realpath "$SIM")
"$PY" "$HERE/receiver.py" "$T/edge.port" &
RECV_PID=$!
for _ in $(seq 1 100); do [ -s "$T/edge.port" ] && break; sleep 0.05; done
"$SIM" sip --url "http://127.0.0.1:$(cat "$T/edge.port")/r" --phones 3 --seed 7 \
    --port-file "$T/sim.port" --credentials-out "$T/sim-creds.json" --count 2 \
    >"$T/sim.out" 2>"$T/sim.err" &
SIM_PID=$!
for _ in $(seq 1 100); do [ -s "$T/sim.port" ] && break; sleep 0.05; done
SP=$(cat "$T/sim.port")
mac2=$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1]))["phones"]; print([m for m in d if d[m]["user"] == "4081000002"][0])' "$T/sim-creds.json")
# a NOTIFY to sip:<mac>@...: --target knows no MAC, so the credentials go by that URI user
"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1]))["phones"][sys.argv[2]]; print(json.dumps({"users": {sys.argv[2]: d}}))' \
    "$T/sim-creds.json" "$mac2" >"$T/sim-bymac.json"
chmod 600 "$T/sim-bymac.json"
expect_exit 1 "sim: unknown user" notify --target "sip:999@127.0.0.1:$SP"
expect_json "sim: unknown user" 'lines[0]["status"] == 404'
expect_exit 1 "sim: other event" notify --target "sip:4081000001@127.0.0.1:$SP" --event resync
expect_json "sim: other event" 'lines[0]["status"] == 489'
expect_exit 1 "sim: wrong credentials" notify --target "sip:4081000001@127.0.0.1:$SP" \
    --credentials "$T/wrong.json"
printf '{"users": {"4081000001": {"password": "nope"}}}' >"$T/simwrong.json"
chmod 600 "$T/simwrong.json"
expect_exit 1 "sim: wrong password" notify --target "sip:4081000001@127.0.0.1:$SP" \
    --credentials "$T/simwrong.json"
expect_json "sim: wrong password" 'lines[0]["status"] == 403 and lines[0]["challenged"]'
expect_exit 0 "sim: phone by User_ID" notify --target "sip:4081000001@127.0.0.1:$SP" \
    --credentials "$T/sim-creds.json"
expect_json "sim: phone by User_ID" 'lines[0]["result"] == "accepted" and lines[0]["challenged"]'
expect_exit 0 "sim: phone by MAC" notify --target "sip:$mac2@127.0.0.1:$SP" \
    --credentials "$T/sim-bymac.json"
# --count 2: the simulator exits 0 once both reports were uploaded
for _ in $(seq 1 100); do kill -0 "$SIM_PID" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$SIM_PID" 2>/dev/null; then
    no "phonereport-sim sip still runs after 2 notifications"
    cat "$T/sim.out" >&2
elif wait "$SIM_PID"; then ok; else no "phonereport-sim sip did not exit 0 after 2 uploads"; cat "$T/sim.err" >&2; fi
kill "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null
SIM_PID=""
cp "$T/edge.port.log" "$T/out"
expect_json "sim: two full reports uploaded" "len(lines) == 2 and all(l['path'].endswith('/full.xml') and l['flat_profile'] and l['method'] in ('PUT', 'POST') for l in lines) and lines[1]['path'] == '/r/$mac2/full.xml' and '($mac2)' in lines[1]['ua']"

done_report
