#!/bin/sh
# In-guest check of proccontrol(1)'s trapcap mode with the SIGCAP series:
# "-s enable-sigcap" sets PROC_TRAPCAP_CTL_ENABLE_SIGCAP, a query prints
# the process' own choice ("enabled", "enabled, SIGCAP", "disabled")
# whatever kern.trap_enotcap_signal says, and the new control is refused
# for other modes. One SIGCAP-TEST line per case; on a kernel without the
# series every case is reported as skipped.
set -u
S=proccontrol
FAILED=0
CASES="query_enable_sigcap query_enable query_disable query_enable_global_sigcap pid_enable_sigcap other_mode_refused"
if ! sysctl -n kern.trap_enotcap_signal >/dev/null 2>&1; then
    for c in $CASES; do
        echo "SIGCAP-TEST $S $c skip stock kernel: no SIGCAP series"
    done
    exit 0
fi
# eq case, description, expected, command...: the command's output.
eq() {
    c=$1; d=$2; want=$3; shift 3
    got=$("$@" 2>&1)
    if [ "$got" = "$want" ]; then
        echo "SIGCAP-TEST $S $c pass $d"
    else
        echo "SIGCAP-TEST $S $c fail $d: got '$got', expected '$want'"
        FAILED=1
    fi
}
# The command inherits the mode; its own query shows it.
Q="proccontrol -m trapcap -q"
eq query_enable_sigcap "-s enable-sigcap, then a query prints 'enabled, SIGCAP'" \
    "enabled, SIGCAP" proccontrol -m trapcap -s enable-sigcap $Q
eq query_enable "-s enable, then a query prints 'enabled'" \
    "enabled" proccontrol -m trapcap -s enable $Q
eq query_disable "-s disable, then a query prints 'disabled'" \
    "disabled" proccontrol -m trapcap -s disable $Q
old=$(sysctl -n kern.trap_enotcap_signal)
if sysctl kern.trap_enotcap_signal=34 >/dev/null; then
    eq query_enable_global_sigcap \
        "with kern.trap_enotcap_signal=34, -s enable still queries as 'enabled'" \
        "enabled" proccontrol -m trapcap -s enable $Q
    sysctl kern.trap_enotcap_signal="$old" >/dev/null
else
    echo "SIGCAP-TEST $S query_enable_global_sigcap fail cannot set kern.trap_enotcap_signal=34"
    FAILED=1
fi
# Another process, by pid.
sleep 30 &
pid=$!
if proccontrol -m trapcap -s enable-sigcap -p $pid; then
    eq pid_enable_sigcap "-s enable-sigcap -p pid, then -q -p pid" \
        "enabled, SIGCAP" proccontrol -m trapcap -q -p $pid
else
    echo "SIGCAP-TEST $S pid_enable_sigcap fail proccontrol -m trapcap -s enable-sigcap -p $pid failed"
    FAILED=1
fi
kill $pid 2>/dev/null
wait $pid 2>/dev/null
if proccontrol -m aslr -s enable-sigcap true >/dev/null 2>&1; then
    echo "SIGCAP-TEST $S other_mode_refused fail -m aslr -s enable-sigcap accepted"
    FAILED=1
else
    echo "SIGCAP-TEST $S other_mode_refused pass -s enable-sigcap is refused for -m aslr"
fi
exit $FAILED
