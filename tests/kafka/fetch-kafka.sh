#!/usr/bin/env bash
# fetch-kafka.sh - resolves Apache Kafka (KRaft broker) and its runtime jars from Maven
# Central with mvn, into a cache outside the source tree, reused when present.
# Prints the directory holding the jars.
#   PR_KAFKA_CACHE  cache root (default: $XDG_CACHE_HOME or ~/.cache, /phonereport/kafka)
#   PR_KAFKA_VERSION  Kafka version (default: the one in pom.xml)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=${PR_KAFKA_VERSION:-$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")}
cache=${PR_KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/phonereport/kafka}
dir="$cache/$version"
if [ -f "$dir/.complete" ]; then
    echo "$dir"
    exit 0
fi
command -v mvn >/dev/null || { echo "fetch-kafka: mvn not found (scripts/setup-deps.sh installs it)" >&2; exit 1; }
rm -rf "$dir.tmp"
mkdir -p "$dir.tmp"
if ! mvn -q -B -f "$here/pom.xml" -Dkafka.version="$version" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$dir.tmp" >"$dir.tmp.log" 2>&1; then
    echo "fetch-kafka: mvn could not resolve Kafka $version:" >&2
    tail -n 30 "$dir.tmp.log" >&2
    exit 1
fi
ls "$dir.tmp"/kafka_2.13-*.jar >/dev/null
rm -rf "$dir"
mv "$dir.tmp" "$dir"
rm -f "$dir.tmp.log"
touch "$dir/.complete"
echo "$dir"
