#!/bin/sh
# In-guest run of the in-tree ATF tests of tests/sys/capsicum under kyua:
# the series' sigcap_test and lookup_mountroot_test, the stock bindat_connectat
# and ioctls_test, and FreeBSD's capsicum-test through its functional wrapper
# (which must keep passing on the patched kernel). One SIGCAP-TEST line per
# kyua test case, suite "atf", name "<program>:<case>"; kyua's own report of
# anything that did not pass follows. On a kernel with the series the suite
# runs a second time with SIGCAP selected globally (as the loader tunable
# would), names prefixed "global_sigcap/": the tests must hold, or skip
# saying why, under either setting. After each run the global knobs must be
# as they were. On a kernel without the series the tree has no sigcap_test
# (the xtask builds the stock directory), reported as one skipped case.
#
# KYUA and ATF_DIR exist for the host test of this script's parsing
# (xtask/src/results.rs), which runs it against a stand-in kyua.
set -u
S=atf
KYUA=${KYUA:-/usr/bin/kyua}
D=${ATF_DIR:-/usr/tests/sys/capsicum}
if [ ! -x "$KYUA" ] || [ ! -f "$D/Kyuafile" ]; then
    echo "SIGCAP-TEST $S kyua fail no $KYUA or $D/Kyuafile in the image"
    exit 1
fi
PATCHED=no
sysctl -n kern.trap_enotcap_signal >/dev/null 2>&1 && PATCHED=yes
if [ ! -x "$D/sigcap_test" ]; then
    if [ $PATCHED = yes ]; then
        echo "SIGCAP-TEST $S sigcap_test fail patched kernel but no $D/sigcap_test"
    else
        echo "SIGCAP-TEST $S sigcap_test skip stock kernel: no SIGCAP series, no sigcap_test"
    fi
fi
export HOME=/tmp
# The Kyuafile's googletest wrapper (functional: capsicum-test as root and
# as an unprivileged user) needs mqueuefs loaded and kyua's unprivileged
# user; without them kyua skips it.
kldstat -q -m mqueuefs 2>/dev/null || kldload mqueuefs 2>/dev/null
UNPRIV=${UNPRIV:-tests}
W=$(mktemp -d /tmp/atf.XXXXXX) || exit 1
trap 'rm -rf "$W"' EXIT
FAILED=0

knobs() { sysctl -n kern.trap_enotcap kern.trap_enotcap_signal 2>/dev/null | tr '\n' ' '; }

# run_suite PREFIX: one kyua run, its cases reported as PREFIX<program>:<case>.
run_suite() {
    p=$1
    db="$W/${p%/}results.db"
    out="$W/${p%/}test.out"
    before=$(knobs)
    # kyua test prints "<program>:<case>  ->  <result>[: <reason>]  [<time>]".
    "$KYUA" -v unprivileged_user="$UNPRIV" test -k "$D/Kyuafile" -r "$db" > "$out" 2>&1
    rc=$?
    after=$(knobs)
    n=0
    bad=0
    while IFS= read -r l; do
        case "$l" in
        *"  ->  "*) ;;
        *) continue ;;
        esac
        id=${l%%  ->  *}
        res=${l#*  ->  }
        res=${res%  \[*\]}
        why=${res#*: }
        [ "$why" = "$res" ] && why=
        case "$res" in
        passed*) r=pass ;;
        expected_failure*) r=pass; why="expected failure: $why" ;;
        skipped*) r=skip ;;
        *) r=fail; why="$res"; bad=1 ;;
        esac
        echo "SIGCAP-TEST $S $p$id $r ${why:-kyua: passed}"
        n=$((n + 1))
    done < "$out"
    if [ "$before" = "$after" ]; then
        echo "SIGCAP-TEST $S ${p}sysctls_restored pass kern.trap_enotcap, kern.trap_enotcap_signal: ${after:-n/a }as before"
    else
        echo "SIGCAP-TEST $S ${p}sysctls_restored fail kern.trap_enotcap, kern.trap_enotcap_signal were $before, now $after"
        bad=1
    fi
    if [ $n -eq 0 ]; then
        echo "SIGCAP-TEST $S ${p}kyua fail kyua reported no test case (exit $rc)"
        bad=1
    fi
    if [ $bad -ne 0 ] || [ $rc -ne 0 ]; then
        echo "--- kyua test ${p%/} (exit $rc)"
        cat "$out"
        echo "--- kyua report of what did not pass"
        "$KYUA" report -r "$db" --verbose \
            --results-filter=broken,failed 2>&1 | head -200
        FAILED=1
    fi
}

run_suite ""
if [ $PATCHED = yes ]; then
    old=$(sysctl -n kern.trap_enotcap_signal)
    if sysctl kern.trap_enotcap_signal=34 >/dev/null; then
        run_suite global_sigcap/
    else
        echo "SIGCAP-TEST $S global_sigcap fail cannot set kern.trap_enotcap_signal=34"
        FAILED=1
    fi
    sysctl kern.trap_enotcap_signal="$old" >/dev/null
fi
exit $FAILED
