#!/usr/bin/env bash
# run.sh - README command 1: installs what is missing, builds phonereport (release) and starts
# `phonereport run` (all roles in one process, embedded broker unless --brokers is given).
# Extra arguments go to `phonereport run` (see `phonereport run --help`).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/setup-deps.sh" runtime build
build=${PR_BUILD_DIR:-$top/build-release}
cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPR_TESTS=OFF >/dev/null
ninja -C "$build" phonereport >&2
exec "$build/phonereport" run "$@"
