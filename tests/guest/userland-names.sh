#!/bin/sh
# In-guest check that the userland of the SIGCAP series names the signal:
# sys_signame (kill -l, the sh builtin and /bin/kill), libsysdecode (kdump)
# and truss, decoding its si_code; pkill, killall and timeout after the
# sys_nsig audit (patch 8). One SIGCAP-TEST line per case; on a kernel
# without the series every case is reported as skipped.
set -u
S=userland
FAILED=0
if ! sysctl -n kern.trap_enotcap_signal >/dev/null 2>&1; then
    for c in sh_kill_l bin_kill_l kdump_decodes truss_decodes pkill_cap \
        killall_cap killall_l timeout_library_signals; do
        echo "SIGCAP-TEST $S $c skip stock kernel: no SIGCAP series"
    done
    exit 0
fi
t() { # case, description, command...
    c=$1; d=$2; shift 2
    if "$@"; then
        echo "SIGCAP-TEST $S $c pass $d"
    else
        echo "SIGCAP-TEST $S $c fail $d"
        FAILED=1
    fi
}
W=$(mktemp -d /tmp/userland-names.XXXXXX) || exit 1
t sh_kill_l "sh's kill -l 34 prints CAP" [ "$(kill -l 34)" = CAP ]
t bin_kill_l "/bin/kill -l lists CAP and names 34" \
    sh -c '/bin/kill -l | tr " " "\n" | grep -qx CAP && [ "$(/bin/kill -l 34)" = CAP ]'
# The self-test violates in capability mode with SIGCAP selected.
(cd "$W" && ktrace -di -t sp -f "$W/kt" /tests/selftest >/dev/null 2>"$W/ktrace.err")
kdump -f "$W/kt" > "$W/kdump.out" 2>&1
t kdump_decodes "kdump prints SIGCAP with a CAPV_ si_code" \
    grep -Eq 'PSIG +SIGCAP caught handler=0x[0-9a-f]+ mask=0x[0-9a-f]+ code=CAPV_[A-Z]+' "$W/kdump.out"
(cd "$W" && truss -f -o "$W/truss.out" /tests/selftest >/dev/null 2>&1)
t truss_decodes "truss prints SIGCAP with its si_code, errno, syscall and address" \
    grep -Eq 'SIGNAL 34 \(SIGCAP\) code=CAPV_[A-Z]+ errno=[0-9]+ syscall=[0-9]+.* addr=0x' "$W/truss.out"
# pkill and killall send SIGCAP by name: a process of a name of its own,
# killed by signal 34 (the shell's status 128 + 34).
cp /bin/sleep "$W/capsleep"
sent_by() { # command...: start capsleep, signal it with the command
    "$W/capsleep" 60 &
    p=$!
    sleep 0.3
    "$@" capsleep >/dev/null 2>&1
    r=$?
    ( sleep 5; kill -9 $p 2>/dev/null ) &
    w=$!
    wait $p
    st=$?
    kill $w 2>/dev/null
    [ $r -eq 0 ] && [ $st -eq 162 ]
}
t pkill_cap "pkill -CAP kills with signal 34" sent_by pkill -CAP -x
t killall_cap "killall -CAP kills with signal 34" sent_by killall -CAP
t killall_l "killall -l lists CAP" sh -c 'killall -l | tr " " "\n" | grep -qx CAP'
# timeout forwards signals but must not catch libthr's and librt's own;
# procstat -i shows a caught signal with C in the third flag column.
timeout 30 "$W/capsleep" 30 &
tp=$!
sleep 0.3
procstat -i $tp > "$W/timeout.sigs" 2>&1
kill $tp 2>/dev/null
wait $tp 2>/dev/null
caught() { awk -v s="$1" '$3 == s { print substr($4, 3, 1) }' "$W/timeout.sigs"; }
t timeout_library_signals "timeout catches SIGCAP and SIGTERM, not SIGTHR or SIGLIBRT" \
    [ "$(caught THR)$(caught LIBRT)$(caught CAP)$(caught TERM)" = "--CC" ]
if [ $FAILED -ne 0 ]; then
    echo "--- procstat -i of timeout"; grep -E " (THR|LIBRT|CAP|TERM) " "$W/timeout.sigs"
    echo "--- ktrace stderr"; grep -v '^SIGCAP-TEST' "$W/ktrace.err" | head -3
    echo "--- kdump (first lines, then SIGCAP lines)"; head -3 "$W/kdump.out"; grep SIGCAP "$W/kdump.out" | head -5
    echo "--- truss (SIGNAL lines)"; grep 'SIGNAL' "$W/truss.out" | head -5
fi
exit $FAILED
