#!/usr/bin/env bash
# broker.sh - a real, single-node Apache Kafka 4.x broker (KRaft, combined broker+controller)
# on free loopback ports, for the integration tests. Safe to run several at once: each gets
# its own ports and directory.
#
#   broker.sh start [DIR]   start a new broker in a fresh temporary DIR (or restart the one in
#                           DIR, same ports and data); waits until it answers metadata, then
#                           prints shell assignments: PHONEREPORT_TEST_BROKERS=127.0.0.1:PORT
#                           and PR_KAFKA_DIR=DIR. On failure prints the log tail, exits 1.
#   broker.sh halt DIR      stop the broker process, keep its data (to test an outage)
#   broker.sh stop DIR      stop it and delete DIR
#   broker.sh run -- CMD... start, export PHONEREPORT_TEST_BROKERS and PR_KAFKA_DIR, run CMD,
#                           stop; exits with CMD's status (1 if the broker cannot start)
#
# Environment: PR_KAFKA_HEAP (default 512m), PR_KAFKA_START_TIMEOUT seconds (default 120),
# PR_KAFKA_JVM_OPTS (JIT/GC options of the broker's JVM; default -XX:TieredStopAtLevel=1,
# the C1-only JIT that starts fast; a benchmark may ask for the full tiered JIT).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../support/service.sh"

die() { echo "broker.sh: $*" >&2; exit 1; }

describe() { echo "Kafka $(basename "$("$here/fetch-kafka.sh")")"; }

wait_ready() { # dir port
    local dir=$1 port=$2 deadline=$((SECONDS + ${PR_KAFKA_START_TIMEOUT:-120}))
    while [ $SECONDS -lt $deadline ]; do
        if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
            echo "broker.sh: the broker exited during start-up; log tail:" >&2
            tail -n 40 "$dir/broker.log" >&2 || true
            return 1
        fi
        # Ready means: metadata answers with our broker and a topic can be created and seen.
        if kcat -L -b "127.0.0.1:$port" -m 3 -t __pr_ready 2>/dev/null | grep -q 'broker 1 at'; then
            return 0
        fi
        sleep 0.5
    done
    echo "broker.sh: the broker did not answer metadata in time; log tail:" >&2
    tail -n 40 "$dir/broker.log" >&2 || true
    return 1
}

launch() { # dir
    local dir=$1 jars
    jars=$("$here/fetch-kafka.sh") || die "could not fetch Kafka"
    command -v java >/dev/null || die "java not found (scripts/setup-deps.sh installs it)"
    command -v kcat >/dev/null || die "kcat not found (scripts/setup-deps.sh installs it)"
    # setsid: own process group, so stop can end the JVM and nothing else.
    local jvm_opts
    read -r -a jvm_opts <<<"${PR_KAFKA_JVM_OPTS:--XX:TieredStopAtLevel=1}"
    setsid java -Xms128m -Xmx"${PR_KAFKA_HEAP:-512m}" -XX:+UseSerialGC "${jvm_opts[@]}" \
        -Djava.awt.headless=true -Dlog4j2.configurationFile="$dir/log4j2.properties" \
        -Dkafka.logs.dir="$dir" -cp "$jars/*" kafka.Kafka "$dir/server.properties" \
        >>"$dir/broker.log" 2>&1 </dev/null &
    echo $! >"$dir/pid"
}

start() {
    local dir=${1:-} port cport jars
    if [ -n "$dir" ] && [ -f "$dir/server.properties" ]; then
        port=$(cat "$dir/port")
    else
        dir=$(mktemp -d "${TMPDIR:-/tmp}/pr-kafka-XXXXXX")
        port=$(svc_free_port)
        cport=$(svc_free_port)
        while [ "$cport" = "$port" ]; do cport=$(svc_free_port); done
        echo "$port" >"$dir/port"
        cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=3
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.flush.interval.messages=1000000
PROPS
        cat >"$dir/log4j2.properties" <<'PROPS'
status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
PROPS
        jars=$("$here/fetch-kafka.sh") || { rm -rf "$dir"; die "could not fetch Kafka"; }
        local id
        id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
        # --cluster-id=ID, not -t ID: one id in 64 starts with '-', which the tool's argument
        # parser would take for an option ("expected one argument").
        if ! java -Xmx256m -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$dir/log4j2.properties" \
                -Dkafka.logs.dir="$dir" -cp "$jars/*" kafka.tools.StorageTool format --cluster-id="$id" \
                -c "$dir/server.properties" >"$dir/format.log" 2>&1; then
            echo "broker.sh: formatting KRaft storage failed:" >&2
            tail -n 30 "$dir/format.log" >&2
            rm -rf "$dir"
            exit 1
        fi
    fi
    launch "$dir"
    if ! wait_ready "$dir" "$port"; then
        halt "$dir"
        [ -n "${1:-}" ] || rm -rf "$dir"
        exit 1
    fi
    echo "PHONEREPORT_TEST_BROKERS=127.0.0.1:$port"
    echo "PR_KAFKA_DIR=$dir"
}

halt() {
    local dir=$1 pid
    [ -f "$dir/pid" ] || return 0
    pid=$(cat "$dir/pid")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$dir/pid"
}

stop() { svc_stop "$1" server.properties; }

case "${1:-}" in
start) start "${2:-}" ;;
halt) [ -n "${2:-}" ] || die "usage: broker.sh halt DIR"; halt "$2" ;;
stop) [ -n "${2:-}" ] || die "usage: broker.sh stop DIR"; stop "$2" ;;
run) shift; svc_run PHONEREPORT_TEST_BROKERS PR_KAFKA_DIR describe "$@" ;;
*) die "usage: broker.sh start [DIR] | halt DIR | stop DIR | run -- CMD..." ;;
esac
