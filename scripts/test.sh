#!/usr/bin/env bash
# test.sh - README command 2: installs what is missing, builds with ASan+UBSan, starts a real
# Apache Kafka 4.x broker (tests/kafka/broker.sh, fetched from Maven Central) and a real
# PostgreSQL server (tests/pg/pg.sh, Debian's postgresql), runs every
# ctest test (unit + integration + end-to-end) against it, stops the broker, and exits
# non-zero on any failure. If the broker cannot start, the run fails: nothing is skipped.
# The Release build also makes the Debian package (cpack), which the test package_deb checks.
#   PR_BUILD_DIR  build directory (default build-test)
#   PR_CTEST_ARGS extra ctest arguments (e.g. "-R decoder")
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/setup-deps.sh" test
PR_VENV=${PR_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/phonereport/venv}
build=${PR_BUILD_DIR:-$top/build-test}

# The README's by-hand build (Release with the tests, -Werror, -O2 and fortify) must compile:
# optimisation enables warnings (format truncation) that the Debug build cannot see.
release=${PR_RELEASE_BUILD_DIR:-$top/build-release-tests}
cmake -S "$top" -B "$release" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
    -DPR_PYTHON="$PR_VENV/bin/python" >/dev/null
ninja -C "$release" -j "$(nproc)"
# The Debian package from that Release build (README, "Installing the package"); the ctest
# test package_deb (tests/package/) checks the file PR_PACKAGE_DEB names.
rm -rf "$release/package"
(cd "$release" && cpack -G DEB -B "$release/package" >/dev/null)
PR_PACKAGE_DEB=$(echo "$release"/package/phonereport_*_amd64.deb)
[ -f "$PR_PACKAGE_DEB" ] || { echo "test.sh: cpack wrote no phonereport_*_amd64.deb" >&2; exit 1; }
export PR_PACKAGE_DEB

cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPR_SANITIZE=ON \
    -DPR_PYTHON="$PR_VENV/bin/python" >/dev/null
ninja -C "$build" -j "$(nproc)"

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export PATH="$build:$PATH"
# The broker and a PostgreSQL server run for the whole ctest run; broker.sh and pg.sh exit 1
# (failing this script) if they cannot start, and stop and delete them afterwards.
# shellcheck disable=SC2086
"$top/tests/pg/pg.sh" run -- "$top/tests/kafka/broker.sh" run -- \
    ctest --test-dir "$build" --output-on-failure --timeout 600 -j 2 ${PR_CTEST_ARGS:-}

# The fuzz target (decrypt + gunzip + XML to event) needs clang's libFuzzer: its own build,
# a short run here (tests/fuzz/CMakeLists.txt says how to run it longer).
if [ -z "${PR_CTEST_ARGS:-}" ]; then
    fuzz=${PR_FUZZ_BUILD_DIR:-$top/build-fuzz}
    CC=clang cmake -S "$top" -B "$fuzz" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPR_FUZZ=ON \
        -DPR_PYTHON="$PR_VENV/bin/python" >/dev/null
    ninja -C "$fuzz" -j "$(nproc)" fuzz_decoder
    ctest --test-dir "$fuzz" -L fuzz --output-on-failure
fi
