#!/usr/bin/env bash
# pg.sh - a real PostgreSQL server (Debian's postgresql, version 15 or later) on a free
# loopback port, for the tests of the sink's PostgreSQL store, the way tests/kafka/broker.sh
# runs Kafka. Each server gets a fresh cluster (initdb) in its own temporary directory, run as
# an unprivileged user (PostgreSQL refuses root): $PR_PG_USER, default `postgres` (created by
# the Debian package). Safe to run several at once.
#
#   pg.sh start [DIR]   initdb a new cluster in a fresh temporary DIR (or restart the one in
#                       DIR, same port and data), start it, create the database `phonereport`,
#                       wait until it accepts connections, then print shell assignments:
#                       PHONEREPORT_TEST_PG=postgresql://phonereport@127.0.0.1:PORT/phonereport
#                       and PR_PG_DIR=DIR. On failure prints the log tail and exits 1.
#   pg.sh halt DIR      stop the server (fast shutdown), keep its data (to test an outage)
#   pg.sh kill DIR      kill -9 the postmaster, keep its data (crash; start recovers)
#   pg.sh stop DIR      stop it and delete DIR
#   pg.sh run -- CMD... start, export PHONEREPORT_TEST_PG and PR_PG_DIR, run CMD, stop; exits
#                       with CMD's status (1 if the server cannot start)
#
# Environment: PR_PG_USER, PR_PG_START_TIMEOUT seconds (default 60), PR_PG_BINDIR (default:
# the newest /usr/lib/postgresql/*/bin).
set -euo pipefail
. "$(dirname "$0")/../support/service.sh"

die() { echo "pg.sh: $*" >&2; exit 1; }

bindir() {
    local d=${PR_PG_BINDIR:-}
    [ -n "$d" ] || d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] && [ -x "$d/initdb" ] || die "PostgreSQL server binaries not found (scripts/setup-deps.sh test installs postgresql)"
    echo "$d"
}

pguser() { echo "${PR_PG_USER:-postgres}"; }

as_user() { # run a command as the unprivileged user (or as ourselves if we are not root)
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u "$(pguser)" -- "$@"
    else
        "$@"
    fi
}

describe() { echo "PostgreSQL $("$(bindir)/postgres" --version | awk '{print $3}')"; }

log_tail() { tail -n 30 "$1/server.log" >&2 2>/dev/null || true; }

wait_ready() { # dir port
    local dir=$1 port=$2 bin deadline=$((SECONDS + ${PR_PG_START_TIMEOUT:-60}))
    bin=$(bindir)
    while [ $SECONDS -lt $deadline ]; do
        "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres -U phonereport && return 0
        sleep 0.2
    done
    echo "pg.sh: the server did not accept connections in time; log tail:" >&2
    log_tail "$dir"
    return 1
}

launch() { # dir port
    local dir=$1 port=$2 bin
    bin=$(bindir)
    # -k: the Unix socket in our directory (not /var/run/postgresql, which may not exist).
    if ! as_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t "${PR_PG_START_TIMEOUT:-60}" \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=on" start >/dev/null 2>&1; then
        echo "pg.sh: pg_ctl start failed; log tail:" >&2
        log_tail "$dir"
        return 1
    fi
}

start() {
    local dir=${1:-} port bin
    bin=$(bindir)
    id "$(pguser)" >/dev/null 2>&1 || die "user $(pguser) does not exist (set PR_PG_USER)"
    if [ -n "$dir" ] && [ -f "$dir/port" ]; then
        port=$(cat "$dir/port")
        launch "$dir" "$port" || exit 1
        wait_ready "$dir" "$port" || { halt "$dir"; exit 1; }
    else
        dir=$(mktemp -d "${TMPDIR:-/tmp}/pr-pg-XXXXXX")
        chmod 755 "$dir"
        port=$(svc_free_port)
        echo "$port" >"$dir/port"
        [ "$(id -u)" -ne 0 ] || chown "$(pguser)" "$dir"
        if ! as_user "$bin/initdb" -D "$dir/data" -U phonereport -A trust -E UTF8 --locale=C.UTF-8 \
                >"$dir/initdb.log" 2>&1; then
            echo "pg.sh: initdb failed:" >&2
            tail -n 20 "$dir/initdb.log" >&2
            rm -rf "$dir"
            exit 1
        fi
        if ! launch "$dir" "$port" || ! wait_ready "$dir" "$port"; then
            halt "$dir"
            rm -rf "$dir"
            exit 1
        fi
        if ! as_user "$bin/createdb" -h 127.0.0.1 -p "$port" -U phonereport phonereport \
                >>"$dir/server.log" 2>&1; then
            echo "pg.sh: createdb failed; log tail:" >&2
            log_tail "$dir"
            halt "$dir"
            rm -rf "$dir"
            exit 1
        fi
    fi
    echo "PHONEREPORT_TEST_PG=postgresql://phonereport@127.0.0.1:$port/phonereport"
    echo "PR_PG_DIR=$dir"
}

halt() {
    local dir=$1 bin
    bin=$(bindir)
    [ -f "$dir/data/postmaster.pid" ] || return 0
    as_user "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || crash "$dir"
}

crash() {
    local dir=$1 pid
    [ -f "$dir/data/postmaster.pid" ] || return 0
    pid=$(head -n 1 "$dir/data/postmaster.pid")
    kill -KILL "$pid" 2>/dev/null || true
    # its children end when the postmaster is gone; wait for the port to be released
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    pkill -KILL -f -- "-D $dir/data" 2>/dev/null || true
}

stop() { svc_stop "$1" port; }

case "${1:-}" in
start) start "${2:-}" ;;
halt) [ -n "${2:-}" ] || die "usage: pg.sh halt DIR"; halt "$2" ;;
kill) [ -n "${2:-}" ] || die "usage: pg.sh kill DIR"; crash "$2" ;;
stop) [ -n "${2:-}" ] || die "usage: pg.sh stop DIR"; stop "$2" ;;
run) shift; svc_run PHONEREPORT_TEST_PG PR_PG_DIR describe "$@" ;;
*) die "usage: pg.sh start [DIR] | halt DIR | kill DIR | stop DIR | run -- CMD..." ;;
esac
