#!/usr/bin/env bash
# setup-deps.sh - installs the Debian packages phonereport needs, and only the missing ones.
# The README's two commands, CI and docker/ all call this script, so they cannot drift apart.
#
#   setup-deps.sh runtime   shared libraries to run the phonereport binary (also the Debian
#                           package's Depends: packaging/CMakeLists.txt reads this list)
#   setup-deps.sh build     compiler, CMake and the -dev packages
#   setup-deps.sh test      build + cmocka, kcat, curl, a JDK and Maven (real Kafka broker),
#                           PostgreSQL (a real server for the sink's PostgreSQL store tests),
#                           clang (fuzzing), libcurl (phone simulator), SIPp and ss (the
#                           `notify` tests: SIPp plays the phone), Python venv tooling,
#                           Chromium and its driver (console test), Prometheus (promtool),
#                           lintian, systemd (systemd-analyze) and dpkg-dev (dpkg-shlibdeps)
#                           for the package test (tests/package/),
#                           then a Python venv with the independent checkers (jsonschema,
#                           http_ece, selenium) at $PR_VENV (default ~/.cache/phonereport/venv)
#   setup-deps.sh bench     test + nginx and wrk (tests/bench/)
# Several modes may be given. Needs root (or sudo) only when something is missing.
set -euo pipefail

runtime=(libc6 librdkafka1 libmicrohttpd12 libgnutls30 libssl3 libjansson4 libexpat1 zlib1g libsqlite3-0 libpq5 ca-certificates
         libsofia-sip-ua0 libcurl4)
build=(gcc libc6-dev make cmake ninja-build pkg-config git
       librdkafka-dev libmicrohttpd-dev libgnutls28-dev libssl-dev libjansson-dev libexpat1-dev zlib1g-dev libsqlite3-dev
       libpq-dev libsofia-sip-ua-dev libcurl4-openssl-dev)
test=(libcmocka-dev kcat curl openssl sqlite3 openjdk-17-jdk-headless maven clang libclang-rt-14-dev
      libcurl4-openssl-dev python3 python3-venv python3-yaml procps postgresql postgresql-client
      chromium chromium-driver prometheus sip-tester iproute2 lintian systemd dpkg-dev)
bench=(nginx-light wrk)

want=()
venv=0
[ $# -gt 0 ] || set -- build runtime
for mode in "$@"; do
    case "$mode" in
    runtime) want+=("${runtime[@]}") ;;
    build) want+=("${runtime[@]}" "${build[@]}") ;;
    test) want+=("${runtime[@]}" "${build[@]}" "${test[@]}"); venv=1 ;;
    bench) want+=("${runtime[@]}" "${build[@]}" "${test[@]}" "${bench[@]}"); venv=1 ;;
    *) echo "setup-deps.sh: unknown mode '$mode' (runtime|build|test|bench)" >&2; exit 64 ;;
    esac
done

missing=()
for p in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup-deps.sh: installing ${missing[*]}" >&2
    $sudo apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
        "${missing[@]}" >&2
fi

if [ $venv -eq 1 ]; then
    PR_VENV=${PR_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/phonereport/venv}
    if [ ! -x "$PR_VENV/bin/python" ] || ! "$PR_VENV/bin/python" -c 'import jsonschema, http_ece, selenium' 2>/dev/null; then
        echo "setup-deps.sh: creating the test venv $PR_VENV (jsonschema, http_ece, selenium)" >&2
        rm -rf "$PR_VENV"
        /usr/bin/python3 -m venv "$PR_VENV" >&2
        "$PR_VENV/bin/pip" install -q --disable-pip-version-check \
            'jsonschema==4.*' 'http_ece==1.2.*' 'cryptography' 'selenium==4.*' >&2
    fi
fi
