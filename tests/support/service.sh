# service.sh - sourced by the scripts that run a real server for the tests
# (tests/kafka/broker.sh, tests/pg/pg.sh): what their command lines share. Each script defines
# die, start (prints shell assignments: the address and the directory), halt DIR and stop DIR
# first.
#   svc_free_port                 a free loopback port
#   svc_stop DIR MARKER           halt and delete DIR, which must hold the file MARKER (a wrong
#                                 argument never deletes another directory); nothing if gone
#   svc_run ADDR_VAR DIR_VAR WHAT -- CMD...
#                                 start, export the two variables start assigned, say WHAT
#                                 (a command printing what runs) and where, run CMD, stop on
#                                 every exit path; exits with CMD's status (1 if start fails)

svc_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

svc_stop() {
    [ -d "$1" ] || return 0
    [ -f "$1/$2" ] || die "$1 is not a $(basename "$0") directory"
    halt "$1"
    rm -rf "$1"
}

svc_run() {
    local addr=$1 what=$3 out rc
    svc_dir_var=$2
    shift 3
    [ "${1:-}" = "--" ] && shift
    [ $# -gt 0 ] || die "usage: $(basename "$0") run -- CMD..."
    out=$(start) || exit 1
    eval "$out"
    export "${addr?}" "${svc_dir_var?}"
    echo "$(basename "$0"): $($what) at ${!addr} (${!svc_dir_var})" >&2
    trap 'stop "${!svc_dir_var}"' EXIT
    set +e
    "$@"
    rc=$?
    set -e
    exit $rc
}

# fail MSG: for the scripts' own tests, "FAIL: MSG" and exit 1.
fail() { echo "FAIL: $*" >&2; exit 1; }

# svc_start_two SCRIPT ADDR_VAR DIR_VAR: the scripts' own tests start two servers at once
# (SCRIPT start, twice in parallel); sets addr_a dir_a addr_b dir_b from what each printed,
# and a trap that stops both. Fails (exit 1) if either does not start.
svc_start_two() {
    local script=$1 key=$2 dkey=$3 a b pa pb
    a=$(mktemp) b=$(mktemp)
    "$script" start >"$a" & pa=$!
    "$script" start >"$b" & pb=$!
    wait $pa || fail "first server did not start"
    wait $pb || fail "second server did not start"
    addr_a=$(sed -n "s/^$key=//p" "$a") dir_a=$(sed -n "s/^$dkey=//p" "$a")
    addr_b=$(sed -n "s/^$key=//p" "$b") dir_b=$(sed -n "s/^$dkey=//p" "$b")
    rm -f "$a" "$b"
    svc_script=$script
    trap '"$svc_script" stop "$dir_a" || true; "$svc_script" stop "$dir_b" || true' EXIT
    [ "$addr_a" != "$addr_b" ] || fail "both servers got $addr_a"
    [ "$dir_a" != "$dir_b" ] || fail "both servers got directory $dir_a"
}
