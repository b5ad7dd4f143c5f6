#!/usr/bin/env bash
# test_decoder_fenced_exit.sh - a `phonereport decode` process whose transactional id is
# taken over by a newer instance stops with exit status 70 (not 0), so a supervisor sees the
# failure. Real broker: PHONEREPORT_TEST_BROKERS (fails without it).
#   test_decoder_fenced_exit.sh PATH/TO/phonereport
set -uo pipefail
. "$(dirname "$0")/../../support/timeout.sh"
B=$(realpath "$1")
: "${PHONEREPORT_TEST_BROKERS:?integration test: run it through scripts/test.sh}"
prefix="tfence-$$-$RANDOM."
dir=$(mktemp -d)
trap 'kill -KILL $pa $pb 2>/dev/null; rm -rf "$dir"' EXIT
common=(--brokers "$PHONEREPORT_TEST_BROKERS" --topic-prefix "$prefix" --decoder-transactional-id "$prefix-tx")
wait_log() { # file text seconds (scaled)
    for _ in $(seq 1 $(($(pr_scaled "$3") * 10))); do grep -q "$2" "$1" && return 0; sleep 0.1; done
    return 1
}
"$B" decode "${common[@]}" --decoder-group "$prefix-a" 2>"$dir/a.log" & pa=$!
wait_log "$dir/a.log" '"msg":"consuming"' 60 || { echo "FAIL: decoder A did not start"; cat "$dir/a.log"; exit 1; }
"$B" decode "${common[@]}" --decoder-group "$prefix-b" 2>"$dir/b.log" & pb=$!
wait_log "$dir/b.log" '"msg":"consuming"' 60 || { echo "FAIL: decoder B did not start"; cat "$dir/b.log"; exit 1; }
# Records make A use its (now fenced) producer.
for i in $(seq 1 20); do
    printf '<flat-profile><P_%d_ ua="na">x</P_%d_></flat-profile>\n' "$i" "$i"
done | kcat -P -b "$PHONEREPORT_TEST_BROKERS" -t "${prefix}raw" -k 00562b043615 -H pr-kind=delta
rc=""
for _ in $(seq 1 "$(pr_scaled 900)"); do
    if ! kill -0 $pa 2>/dev/null; then wait $pa; rc=$?; break; fi
    sleep 0.1
done
kill -TERM $pb; wait $pb; rcb=$?
if [ "$rc" != 70 ]; then echo "FAIL: fenced decoder exit status '${rc:-still running}', wanted 70"; tail -5 "$dir/a.log"; exit 1; fi
grep -q '"fatal Kafka error' "$dir/a.log" || { echo "FAIL: no fatal log line"; exit 1; }
[ "$rcb" = 0 ] || { echo "FAIL: the newer decoder exited $rcb on SIGTERM"; exit 1; }
echo "1 passed, 0 failed"
