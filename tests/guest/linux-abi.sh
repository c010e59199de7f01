#!/bin/sh
# In-guest check of the series' Linux ABI change (patch 5): Linux has no
# SIGCAP. A Linux parent must see a native child killed by SIGCAP as
# killed by SIGSYS (31), not by the real-time-signal arithmetic's SIGHUP
# (1) of the unpatched translation; and SIGCAP sent to a Linux process by
# a native one takes its default action (no Linux handler can be for it).
# Runs the static Linux program linux-sigcap under linux64.ko.
# One SIGCAP-TEST line per case; on a kernel without the series (no
# SIGCAP to send) the cases are reported as skipped.
set -u
S=linux
P=/tests/linux-sigcap
if ! sysctl -n kern.trap_enotcap_signal >/dev/null 2>&1; then
    for c in sigcap_sent_to_linux_process native_child_killed_by_sigcap; do
        echo "SIGCAP-TEST $S $c skip stock kernel: no SIGCAP series"
    done
    exit 0
fi
if [ ! -x $P ]; then
    for c in sigcap_sent_to_linux_process native_child_killed_by_sigcap; do
        echo "SIGCAP-TEST $S $c skip no $P in the image (Linux programs are built on Linux hosts only)"
    done
    exit 0
fi
if ! kldload linux64 2>/tmp/kldload.err; then
    echo "SIGCAP-TEST $S kldload_linux64 fail $(cat /tmp/kldload.err)"
    dmesg | tail -5
    exit 1
fi
echo "SIGCAP-TEST $S kldload_linux64 pass linux64.ko loaded"
FAILED=0
W=$(mktemp -d /tmp/linux-abi.XXXXXX) || exit 1

# A native process (this sh) sends SIGCAP to a Linux process. No Linux
# number names SIGCAP, so none of the Linux handlers can be for it: the
# signal takes its default action and kills the process (status 128+34),
# no handler running.
$P catch > "$W/catch.out" 2>&1 &
LPID=$!
i=0
until grep -q '^ready' "$W/catch.out" 2>/dev/null || [ $i -ge 100 ]; do
    sleep 0.1; i=$((i + 1))
done
kill -s CAP $LPID
wait $LPID
st=$?
out=$(tr '\n' ' ' < "$W/catch.out")
if [ $st -eq $((128 + 34)) ] && ! grep -q '^caught' "$W/catch.out"; then
    echo "SIGCAP-TEST $S sigcap_sent_to_linux_process pass kill -s CAP: killed by SIGCAP (status $st), no Linux handler ran"
else
    echo "SIGCAP-TEST $S sigcap_sent_to_linux_process fail kill -s CAP: status $st, want $((128 + 34)) with no handler run; output: $out"
    FAILED=1
fi

# A Linux process waits for a native child killed by SIGCAP.
(cd "$W" && $P wait /bin/sh -c 'ulimit -c 0; kill -s CAP $$') > "$W/wait.out" 2>&1
got=$(cat "$W/wait.out")
if [ "$got" = "termsig 31" ]; then
    echo "SIGCAP-TEST $S native_child_killed_by_sigcap pass the Linux parent's wait status says termsig 31 (SIGSYS)"
else
    echo "SIGCAP-TEST $S native_child_killed_by_sigcap fail the Linux parent saw '$got', want termsig 31 (SIGSYS)"
    FAILED=1
fi
rm -rf "$W"
exit $FAILED
