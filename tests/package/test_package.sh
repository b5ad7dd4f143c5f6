#!/usr/bin/env bash
# test_package.sh - checks the Debian package that scripts/test.sh builds (cpack -G DEB in the
# Release tree) and names in PR_PACKAGE_DEB (README, "Installing the package"):
#   1. control fields: name, version and file name; Depends = scripts/setup-deps.sh's runtime
#      list (+ adduser, procps), and it covers every library dpkg-shlibdeps finds the binary
#      needs; conffiles = every file under /etc; the maintainer scripts;
#   2. contents: exactly the expected files (a --help text per command `phonereport --help`
#      lists), modes and owners;
#   3. lintian: an error fails, warnings and the rest are listed;
#   4. the units: systemd-analyze verify (any message fails) and security (offline) on a
#      scratch root, and the directives the units promise;
#   5. the scratch root (dpkg -x): `phonereport --help`, `<role> --config <example> --print-config`
#      for each role; then each role from the scratch root with its example configuration on
#      the real broker (PHONEREPORT_TEST_BROKERS), only the broker, ports and store overridden
#      by environment: READY=1 reaches a NOTIFY_SOCKET when /readyz answers 200, SIGHUP keeps
#      it running, SIGTERM sends STOPPING=1 and exits 0.
# Needs: dpkg-deb, dpkg-shlibdeps (dpkg-dev), lintian, systemd-analyze (systemd), curl, python3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$here/../support/timeout.sh"

fail() { echo "test_package: FAIL: $*" >&2; exit 1; }
say() { echo "test_package: $*"; }

deb=${PR_PACKAGE_DEB:-}
[ -n "$deb" ] || fail "PR_PACKAGE_DEB is not set: scripts/test.sh builds the package and sets it" \
    "(by hand: cpack -G DEB in a Release build, README \"Installing the package\")"
[ -f "$deb" ] || fail "PR_PACKAGE_DEB=$deb does not exist"
[ -n "${PHONEREPORT_TEST_BROKERS:-}" ] ||
    fail "PHONEREPORT_TEST_BROKERS is not set (run under tests/kafka/broker.sh run --)"
for tool in dpkg-deb dpkg-shlibdeps lintian systemd-analyze curl python3; do
    command -v "$tool" >/dev/null || fail "$tool is missing (scripts/setup-deps.sh test)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/pr-package.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# ---- 1. control fields ----------------------------------------------------------------------
field() { dpkg-deb -f "$deb" "$1"; }
version=$(field Version)
[ "$(field Package)" = phonereport ] || fail "Package: $(field Package)"
[ "$(field Architecture)" = amd64 ] || fail "Architecture: $(field Architecture)"
[ "$(basename "$deb")" = "phonereport_${version}_amd64.deb" ] || fail "file name $(basename "$deb")"
project_version=$(sed -n 's/^project(phonereport VERSION \([0-9.]*\).*/\1/p' "$top/CMakeLists.txt")
[ "$version" = "$project_version" ] || fail "Version $version, CMakeLists.txt says $project_version"
for f in Maintainer Section Priority Description Installed-Size; do
    [ -n "$(field "$f")" ] || fail "control field $f is empty"
done

# Depends: the runtime list, read here by bash itself (not by the CMake code that wrote it).
eval "$(sed -n '/^runtime=(/,/)/p' "$top/scripts/setup-deps.sh")"
want_deps=$(printf '%s\n' "${runtime[@]}" adduser procps | sort)
have_deps=$(field Depends | tr ',' '\n' | sed 's/^ *//; s/ *$//' | sort)
[ "$want_deps" = "$have_deps" ] ||
    fail "Depends differs from setup-deps.sh's runtime list + adduser, procps:"$'\n'"$(diff <(echo "$want_deps") <(echo "$have_deps"))"

dpkg-deb -e "$deb" "$work/control"
for s in postinst prerm postrm; do
    [ -x "$work/control/$s" ] || fail "maintainer script $s missing or not executable"
    sh -n "$work/control/$s" || fail "$s: syntax error"
done
grep -q 'adduser --system' "$work/control/postinst" || fail "postinst creates no system user"

# ---- 2. contents -----------------------------------------------------------------------------
dpkg-deb -x "$deb" "$work/root"
root=$work/root
cmds=$("$root/usr/bin/phonereport" --help | sed -n '/^commands:/,/^$/s/^  \([a-z]*\) .*/\1/p')
[ -n "$cmds" ] || fail "phonereport --help lists no commands"
{
    echo ./etc/phonereport/decode.json
    echo ./etc/phonereport/ingest.json
    echo ./etc/phonereport/sink.json
    echo ./lib/systemd/system/phonereport-.service.d/sandbox.conf
    echo ./lib/systemd/system/phonereport-decode@.service
    echo ./lib/systemd/system/phonereport-ingest.service
    echo ./lib/systemd/system/phonereport-sink.service
    echo ./usr/bin/phonereport
    echo ./usr/share/doc/phonereport/changelog.gz
    echo ./usr/share/doc/phonereport/copyright
    echo ./usr/share/doc/phonereport/phonereport.txt
    for c in $cmds; do echo "./usr/share/doc/phonereport/phonereport-$c.txt"; done
    echo ./usr/share/man/man1/phonereport.1.gz
} | sort >"$work/want-files"
dpkg-deb -c "$deb" >"$work/contents"
awk '$1 !~ /^d/ {print $6}' "$work/contents" | sort >"$work/have-files"
diff "$work/want-files" "$work/have-files" >"$work/files.diff" ||
    fail "package contents differ from the expected files:"$'\n'"$(cat "$work/files.diff")"
grep -q '^drwxr-xr-x root/root .* \./var/lib/phonereport/$' "$work/contents" ||
    fail "no /var/lib/phonereport directory"
grep -q '^-rwxr-xr-x root/root .* \./usr/bin/phonereport$' "$work/contents" ||
    fail "/usr/bin/phonereport is not root-owned 0755"
for c in $cmds; do
    "$root/usr/bin/phonereport" "$c" --help | cmp -s - "$root/usr/share/doc/phonereport/phonereport-$c.txt" ||
        fail "phonereport-$c.txt is not the binary's $c --help"
done
# conffiles: exactly the files under /etc.
sort "$work/control/conffiles" >"$work/conffiles"
grep '^\./etc/' "$work/have-files" | sed 's/^\.//' | diff - "$work/conffiles" >/dev/null ||
    fail "conffiles ($(tr '\n' ' ' <"$work/conffiles")) are not the files under /etc"
# Every library the binary needs is declared (dpkg-shlibdeps wants a debian/control beside it).
mkdir -p "$work/shlibs/debian" && : >"$work/shlibs/debian/control"
needed=$(cd "$work/shlibs" && dpkg-shlibdeps -O "$root/usr/bin/phonereport" 2>/dev/null |
    sed 's/^shlibs:Depends=//' | tr ',' '\n' | sed 's/^ *//; s/ .*//' | sort -u)
[ -n "$needed" ] || fail "dpkg-shlibdeps found no libraries"
for p in $needed; do
    grep -qx "$p" <<<"$have_deps" || fail "the binary needs $p (dpkg-shlibdeps); Depends lacks it"
done
say "control fields, Depends ($(echo $needed | wc -w) shared-library packages covered), conffiles and $(wc -l <"$work/want-files") files: ok"

# ---- 3. lintian ------------------------------------------------------------------------------
lintian --pedantic --display-experimental --tag-display-limit 0 --info "$deb" >"$work/lintian.out" 2>&1 || true
grep -v '^running with root privileges' "$work/lintian.out" | sed 's/^/test_package: lintian: /' || true
if grep -q '^E:' "$work/lintian.out"; then
    fail "lintian reports errors"
fi
say "lintian: no errors ($(grep -c '^W:' "$work/lintian.out" || true) warnings)"

# ---- 4. the units ----------------------------------------------------------------------------
# systemd-analyze resolves everything inside --root: the scratch root gets the host's own unit
# files (the targets the units name) and /bin/kill (procps, a Depends), as an installed system
# has them.
vroot=$work/vroot
cp -a "$root" "$vroot"
cp -rn /lib/systemd/system/. "$vroot/lib/systemd/system/"
mkdir -p "$vroot/bin" && cp /bin/kill "$vroot/bin/kill"
units="phonereport-ingest.service phonereport-decode@pkgtest-1.service phonereport-sink.service"
# shellcheck disable=SC2086
systemd-analyze verify --man=no --root="$vroot" $units >"$work/verify.out" 2>&1 ||
    fail "systemd-analyze verify: $(cat "$work/verify.out")"
[ ! -s "$work/verify.out" ] || fail "systemd-analyze verify: $(cat "$work/verify.out")"
for u in $units; do
    systemd-analyze security --offline=true --root="$vroot" "$u" >"$work/security.out" 2>&1 ||
        fail "systemd-analyze security $u: $(tail -3 "$work/security.out")"
    for want in 'NoNewPrivileges=' 'PrivateTmp=' 'ProtectSystem=' 'ProtectHome=' \
        'CapabilityBoundingSet=~CAP_SYS_ADMIN' 'User=/DynamicUser='; do
        grep -q "✓ $want" "$work/security.out" || fail "$u: systemd-analyze security: $want not set"
    done
    say "$u: $(grep -o 'Overall exposure level.*' "$work/security.out")"
done
sd=$root/lib/systemd/system
for u in phonereport-ingest.service phonereport-decode@.service phonereport-sink.service; do
    conf=$(cat "$sd/$u" "$sd/phonereport-.service.d/sandbox.conf")
    for d in 'Type=notify' 'Restart=on-failure' 'RestartPreventExitStatus=78' \
        'ExecReload=/bin/kill -HUP $MAINPID' 'ProtectSystem=strict' \
        'ReadWritePaths=/var/lib/phonereport' 'NoNewPrivileges=yes' 'PrivateTmp=yes' \
        'AmbientCapabilities=CAP_NET_BIND_SERVICE' 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE' \
        'User=phonereport'; do
        grep -qxF "$d" <<<"$conf" || fail "$u: no $d"
    done
    role=${u#phonereport-}
    role=${role%%[@.]*}
    exec_start="ExecStart=/usr/bin/phonereport $role --config /etc/phonereport/$role.json"
    [ "$role" != decode ] || exec_start+=" --decoder-transactional-id %i" # the instance
    grep -qxF "$exec_start" <<<"$conf" || fail "$u: no $exec_start"
done
say "units: verify clean, sandbox and restart policy as promised"

# ---- 5. the scratch root ---------------------------------------------------------------------
bin=$root/usr/bin/phonereport
"$bin" --help | grep -q '^usage: phonereport' || fail "phonereport --help"
for r in ingest decode sink; do
    "$bin" "$r" --config "$root/etc/phonereport/$r.json" --print-config >"$work/$r.printed" ||
        fail "$r --print-config with the example configuration exited $?"
    python3 - "$root/etc/phonereport/$r.json" "$work/$r.printed" <<'EOF' ||
import json, sys
example, printed = (json.load(open(p)) for p in sys.argv[1:])
# Every key of the example is a setting; text settings print as given (sizes and durations
# print as numbers).
bad = [k for k, v in example.items()
       if k not in printed or (isinstance(printed[k], str) and printed[k] != v)]
sys.exit(f"settings of the example missing or changed in --print-config: {bad}" if bad else 0)
EOF
        fail "$r: --print-config does not show the example's settings"
done
grep -q '"data-dir": "/var/lib/phonereport"' "$work/sink.printed" || fail "sink: data-dir is not /var/lib/phonereport"
say "scratch root: --help and --print-config with the example configurations: ok"

# Each role from the scratch root on the real broker, as its unit starts it, with the broker,
# the ports and the store overridden by environment (which wins over the file).
prefix="pkgtest-$$-$RANDOM."
deadline_s=$(pr_scaled 60)
started=()
start_role() { # role notify-address extra-args...
    local r=$1 addr=$2
    shift 2
    python3 "$here/notify_listen.py" "$addr" >"$work/$r.notify" 2>&1 &
    pids+=($!)
    wait_for "$work/$r.notify" '^bound$' "$r: the notify listener"
    NOTIFY_SOCKET=$addr PHONEREPORT_BROKERS=$PHONEREPORT_TEST_BROKERS PHONEREPORT_TOPIC_PREFIX=$prefix \
        PHONEREPORT_LISTEN=127.0.0.1:0 PHONEREPORT_API_LISTEN=127.0.0.1:0 \
        PHONEREPORT_DATA_DIR="$work/store" \
        "$bin" "$r" --config "$root/etc/phonereport/$r.json" "$@" 2>"$work/$r.log" &
    eval "${r}_pid=$!"
    pids+=($!)
}
wait_for() { # file regex what
    local end=$((SECONDS + deadline_s))
    until grep -qE "$2" "$1" 2>/dev/null; do
        [ $SECONDS -lt $end ] || fail "$3: nothing matching '$2' in ${deadline_s}s; $(tail -5 "$1" 2>/dev/null)"
        sleep 0.1
    done
}
readyz() { # role port: /readyz answers 200
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$2/readyz")" = 200 ] ||
        fail "$1: READY=1 sent but /readyz on port $2 does not answer 200"
}
port_of() { # role key
    sed -n "s/.*\"msg\":\"started\".*\"$2\":\([0-9]*\).*/\1/p" "$work/$1.log" | head -1
}
# The decoder creates the topics the sink subscribes to, so it comes first; a path socket for
# one role, abstract-namespace names (@...) for the others.
start_role decode "$work/decode.sock" --decoder-transactional-id "pkgtest-$$-1"
wait_for "$work/decode.notify" '^READY=1$' "decode: READY=1"
start_role sink "@pr-pkgtest-$$-sink"
start_role ingest "@pr-pkgtest-$$-ingest"
wait_for "$work/sink.notify" '^READY=1$' "sink: READY=1"
readyz sink "$(port_of sink api_port)"
wait_for "$work/ingest.notify" '^READY=1$' "ingest: READY=1"
readyz ingest "$(port_of ingest ingest_port)"
say "decode, sink and ingest from the package: READY=1 with /readyz 200"

# shellcheck disable=SC2154
for r in ingest decode sink; do
    pid_var=${r}_pid
    kill -HUP "${!pid_var}"
done
for r in ingest decode sink; do
    wait_for "$work/$r.log" '"msg":"SIGHUP: reloading"' "$r: SIGHUP"
    pid_var=${r}_pid
    kill -0 "${!pid_var}" 2>/dev/null || fail "$r: exited on SIGHUP"
done
for r in ingest sink decode; do
    pid_var=${r}_pid
    kill -TERM "${!pid_var}"
    rc=0
    wait "${!pid_var}" || rc=$?
    [ $rc -eq 0 ] || fail "$r: exit status $rc after SIGTERM; $(tail -3 "$work/$r.log")"
    wait_for "$work/$r.notify" '^STOPPING=1$' "$r: STOPPING=1"
done
say "SIGHUP reloads, SIGTERM stops cleanly (exit 0, STOPPING=1)"
say "ok"
