#!/bin/sh
# In-guest run of FreeBSD's own capsicum-test (googletest, built from
# tests/sys/capsicum with MK_GOOGLETEST): one SIGCAP-TEST line per
# googletest case, suite "capsicum-test", so that a run on the patched and
# one on the stock kernel compare case by case (the patched kernel must
# fail nothing the stock one passes). It runs as root with -u naming the
# "tests" user, as functional.sh's test_root does under kyua; the
# unprivileged half of functional.sh is not run (it repeats the suite as
# that user, where the root-only cases skip). mqueuefs is loaded first, as
# the Kyuafile requires. The output of a run with failures follows the
# protocol lines.
#
# CAPSICUM_TEST exists for the host test of this script's parsing.
set -u
S=capsicum-test
B=${CAPSICUM_TEST:-/usr/tests/sys/capsicum/capsicum-test}
if [ ! -x "$B" ]; then
    echo "SIGCAP-TEST $S build fail no $B in the image"
    exit 1
fi
if ! kldstat -q -m mqueuefs 2>/dev/null && ! kldload mqueuefs 2>/dev/null; then
    echo "SIGCAP-TEST $S mqueuefs fail cannot load mqueuefs.ko"
fi
uid=$(id -u tests 2>/dev/null) || uid=
if [ -z "$uid" ]; then
    echo "SIGCAP-TEST $S user fail no user \"tests\" in the image"
    exit 1
fi
out=$(mktemp /tmp/capsicum-test.XXXXXX) || exit 1
# The suite finds its helpers (mini-me) beside itself.
cd "$(dirname "$B")" || exit 1
"$B" -u "$uid" --gtest_color=no > "$out" 2>&1
rc=$?
n=0
bad=0
# "[       OK ] Suite.Case (12 ms)"; the summary repeats failed names
# without a time, so only lines with one count.
# A skip's reason is the line after googletest's "file:line: Skipped".
why=
want_why=no
while IFS= read -r l; do
    case "$l" in
    "[ RUN      ] "*) why=; want_why=no; continue ;;
    *": Skipped") want_why=yes; continue ;;
    "[       OK ] "*" ms)") r=pass ;;
    "[  FAILED  ] "*" ms)") r=fail ;;
    "[  SKIPPED ] "*" ms)") r=skip ;;
    *)
        if [ $want_why = yes ] && [ -n "$l" ]; then
            why=$l
            want_why=no
        fi
        continue
        ;;
    esac
    name=${l#\[*\] }
    name=${name%% (*}
    [ $r = fail ] && bad=1
    if [ $r = skip ]; then
        echo "SIGCAP-TEST $S $name $r ${why:-skipped by the test (no reason printed)}"
    else
        echo "SIGCAP-TEST $S $name $r"
    fi
    n=$((n + 1))
done < "$out"
if [ $n -eq 0 ]; then
    echo "SIGCAP-TEST $S run fail no test case reported (exit $rc)"
    bad=1
fi
if [ $bad -ne 0 ] || [ $rc -ne 0 ]; then
    echo "--- capsicum-test output (exit $rc)"
    cat "$out"
fi
rm -f "$out"
[ $bad -eq 0 ] && [ $rc -eq 0 ]
