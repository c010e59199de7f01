#!/bin/sh
# The Capsicumization survey: sigcap-run over programs of the installed
# FreeBSD world, each with a realistic invocation on prepared input.
#
#   sh sigcap-run/freebsd-survey.sh /path/to/sigcap-run [backend] [K/N]
#
# Per program, in a fresh copy of the same input directory (always the
# same path: the suggested policy names it):
#   1. a plain run: stdout, exit status, and the file effects (a listing
#      of the directory, modes, sizes, link targets, and the checksum of
#      every file, or what the case names instead);
#   2. sigcap-run --report --suggest-policy (permissive), compared with 1;
#   3. sigcap-run --policy <the suggested policy> (replay), compared with 1;
#   4. the suggested policy without its first rule (narrower): the report
#      must name a denial under the dropped rule.
# Every run is bounded by timeout(1). Per program, one line
#   SIGCAP-SURVEY <program>\t<invocation>\t<violations by class>\t<calls
#   not brokered>\t<least policy>\t<permissive run>\t<under its policy>
#   \t<narrower policy>\t<verdict>\t<note>
# (the work directory shown as $WORK; verdict: ok, limitation, FAIL or
# not run; `cargo xtask boot` saves the rows, and the SIGCAP-SURVEY-INFO
# lines, to target/xtask-results/survey.tsv, and `cargo xtask survey-doc`
# writes docs/capsicumization-survey.md from it), and one
#   SIGCAP-TEST survey <program> pass|fail|skip <why>
# about sigcap-run itself: fail when it failed as a tool (exit 125, no
# report, killed, timed out where the plain run did not), pass when it ran
# the program through all the steps, whatever the program did. Whether
# the program works confined is the row's verdict, a finding: "ok" (same
# as plain, the policy replays, the narrower one is refused), "limitation"
# (it differs, and the report names calls sigcap-run cannot broker yet:
# execve, chdir, symlink, ...) or "FAIL" (it differs with nothing in the
# report to explain it, or its policy does not replay, or a narrower one
# is not refused): what docs/capsicumization-survey.md lists for action.
# Programs not in the image, daemons that cannot run here, and cases past
# the time budget are skip rows with the reason. Third argument K/N: run
# every Nth case from the Kth (the guest runs the survey in parts, each
# within its time limit).
set -u
TOOL=${1:?usage: $0 /path/to/sigcap-run [freebsd-sigcap|freebsd-sigtrap]}
BACKEND=${2:-}
SPLIT=${3:-1/1}
# Optional part K/N: run every Nth case starting at the Kth (also as the
# second argument, for the guest's init, which passes no empty words).
case $BACKEND in */*) SPLIT=$BACKEND BACKEND= ;; esac
case $SPLIT in
    */*) PART=${SPLIT%/*} PARTS=${SPLIT#*/} ;;
    *) PART= PARTS= ;;
esac
case $PART:$PARTS in
    [1-9]*:[1-9]*) case $PART$PARTS in *[!0-9]*) PART= ;; esac ;;
    *) PART= ;;
esac
if [ -z "$PART" ] || [ "$PART" -gt "$PARTS" ]; then
    echo "usage: $0 TOOL [BACKEND] [K/N] (K/N: part K of N, 1 <= K <= N; got '$SPLIT')" >&2
    exit 2
fi
TOOL=$(realpath "$TOOL")
W=$(mktemp -d "${TMPDIR:-/tmp}/sigcap-survey.XXXXXX")
D=$W/work        # where every run runs (recreated from $W/base)
O=$W/out         # outputs, reports and policies: outside $D
mkdir -p "$O"
T=${SIGCAP_SURVEY_TIMEOUT:-30}       # seconds per run
DT=${SIGCAP_SURVEY_DAEMON_TIME:-6}   # seconds a daemon runs
# The guest init kills a program after 300 s: past this budget the
# remaining cases are skip rows rather than a killed survey.
BUDGET=${SIGCAP_SURVEY_BUDGET:-240}
SR="$TOOL --color never"
[ -n "$BACKEND" ] && SR="$SR --backend $BACKEND"
START=$(date +%s)
FAILED=0
FINDINGS=0
PASSED=0
SKIPPED=0

proto() { # result, case, description
    echo "SIGCAP-TEST survey $2 $1 $3"
}
# One field of a row: no tabs or newlines, the work directory as $WORK.
field() {
    printf '%s' "$1" | tr '\t\n' '  ' | sed "s|$D|\$WORK|g; s|$W|\$SURVEY|g"
}
row() { # program invocation violations unbrokered policy permissive replay narrow verdict note
    printf 'SIGCAP-SURVEY %s' "$(field "$1")"
    shift
    for f in "$@"; do printf '\t%s' "$(field "$f")"; done
    echo
}

# --- the input every run starts from ---------------------------------
B=$W/base
mkdir -p "$B/src/docs/deep" "$B/sub"
printf 'alpha\nbeta\nneedle one\n' > "$B/a.txt"
printf 'alpha\ngamma\nneedle two\n' > "$B/b.txt"
printf 'pear red\napple green\nfig purple\napple red\nkiwi green\npear red\n' > "$B/words.txt"
printf 'x:1\ny:2\nz:3\n' > "$B/nums.txt"
printf 'apple\nfig\npear\n' > "$B/s1.txt"
printf 'apple\nkiwi\npear\n' > "$B/s2.txt"
awk 'BEGIN { for (i = 1; i <= 3000; i++) print "line " i " of the survey input" }' > "$B/big.txt"
printf '\177ELF\002\001\001\000hello\000\001\002' > "$B/small.bin"
echo readme > "$B/src/README"
echo guide > "$B/src/docs/guide.txt"
echo notes > "$B/src/docs/deep/notes.txt"
printf 'one\ntwo\nthree\nfour\n' > "$B/list.txt"
(cd "$B" && tar -czf a.tgz src && tar -cJf a.txz src && tar --format zip -cf a.zip src \
    && find src | cpio -o -H newc > a.cpio 2>/dev/null && gzip -n -c words.txt > c.txt.gz)
: > "$B/messages"
printf 'user.*\t%s/messages\n' "$D" > "$B/syslog.conf"
# date with TZ: the image has no zoneinfo (WITHOUT_ZONEINFO), so the
# zone file is compiled here, and TZ names it by its absolute path, as
# tzcode allows; without zic, a POSIX TZ string (no file to read).
printf '%s\n' 'Rule	T	1981	max	-	Mar	lastSun	1:00u	1:00	S' \
    'Rule	T	1996	max	-	Oct	lastSun	1:00u	0	-' \
    'Zone	Test/Berlin	1:00	T	CE%sT' > "$W/zone.src"
if command -v zic > /dev/null 2>&1 && zic -d "$B/zoneinfo" "$W/zone.src" 2>/dev/null; then
    TZ_SURVEY=$D/zoneinfo/Test/Berlin
else
    TZ_SURVEY='CET-1CEST,M3.5.0,M10.5.0/3'
fi
# Fixed times: archives and listings must not differ because the input
# was made a second later.
find "$B" -exec touch -h -t 202301011200 {} +

fresh() { rm -rf "$D" && cp -Rp "$B" "$D"; }
sums() { # checksums of the files under ., sorted by name
    if command -v md5 > /dev/null 2>&1; then
        find . -type f -exec md5 -r {} + | sort -k2
    else
        find . -type f -exec md5sum {} + | sort -k2
    fi
}
# The file effects of a run: every path with its mode, size (not for
# directories) and link target, then the checksums, or $EFFECTS.
effects() {
    (
        cd "$D" || exit 1
        find . ! -name . -exec ls -ldn {} + | awk '{
            m = $1; s = $5
            for (i = 1; i <= 8; i++) $i = ""
            sub(/^ +/, "")
            print m, (m ~ /^d/ ? "-" : s), $0
        }' | sort -k3
        if [ -n "$EFFECTS" ]; then eval "$EFFECTS"; else sums; fi
    ) 2>&1
}

# --- extracting the report (format 2, pretty JSON) -------------------
# Line 1: "<total> total: <class> <n>, ..."; line 2: the calls sigcap-run
# did not broker, "<call> (<decision>), ...".
classes() {
    awk '
    /^  "total_violations": / { t = $2; sub(/,/, "", t) }
    /^    [{]/ { s = c = d = "" }
    /^      "syscall": / { s = $2; gsub(/[",]/, "", s) }
    /^      "class": / { c = $2; gsub(/[",]/, "", c) }
    /^      "decision": / { d = $2; gsub(/[",]/, "", d) }
    /^      "count": / {
        n = $2; sub(/,/, "", n)
        if (!(c in cnt)) order[++k] = c
        cnt[c] += n
        if (d == "unsupported" || d == "not-brokered" || d == "broker-unavailable") {
            key = s " (" d ")"
            if (!(key in seen)) { seen[key] = 1; u = u (u == "" ? "" : ", ") key }
        }
    }
    END {
        line = (t == "" ? "?" : t) " total"
        for (i = 1; i <= k; i++) line = line (i == 1 ? ": " : ", ") order[i] " " cnt[order[i]]
        print line
        print u
    }' "$1"
}
# The first denied entry ($2: the first under that root): "<call> <path
# or address> (<reason>)".
denial() {
    awk -v root="${2:-}" '
    /^    [{]/ { s = d = p = r = a = "" }
    /^      "syscall": / { s = $2; gsub(/[",]/, "", s) }
    /^        "path": / && p == "" { p = $0; sub(/^[^:]*: "/, "", p); sub(/",?$/, "", p) }
    /^        "resolved": / { p = $0; sub(/^[^:]*: "/, "", p); sub(/",?$/, "", p) }
    /^        "(address|sysctl)": / { a = $0; sub(/^[^:]*: "/, "", a); sub(/",?$/, "", a) }
    /^      "decision": / { d = $2; gsub(/[",]/, "", d) }
    /^      "reason": / { r = $2; gsub(/[",]/, "", r) }
    /^      "count": / && d == "denied" {
        w = (p != "" ? p : a)
        if (root == "" || w == root || index(w, root "/") == 1) { print s, w, "(" r ")"; exit }
    }' "$1"
}
# The rules of a suggested policy, one string: "path (modes); ...".
rules() {
    awk '
    function val(l) { sub(/^[^=]*= */, "", l); return l }
    function list(l) { l = val(l); gsub(/[][" ]/, "", l); return l }
    /^path = / { p = val($0); gsub(/"/, "", p) }
    /^access = / { out = out (out == "" ? "" : "; ") p " (" list($0) ")" }
    /^connect = / { l = list($0); if (l != "") out = out (out == "" ? "" : "; ") "connect " l }
    /^bind = / { l = list($0); if (l != "") out = out (out == "" ? "" : "; ") "bind " l }
    /^\[sysctl\]/ { sys = 1 }
    sys && /^read = / { l = list($0); if (l != "") out = out (out == "" ? "" : "; ") "sysctl " l }
    END { print (out == "" ? "(empty)" : out) }' "$1"
}
# The policy without its first [[fs]] rule that is not one of the library
# directories a program run by exec needs (/lib, /usr/lib,
# /usr/local/lib: the run-time linker finds its libraries through
# descriptors held since enter, and a missing one fails without a record
# to name), else without its first rule, or without any rule when it has
# none; the dropped root is written to the third argument.
narrow() { # policy, narrower policy file, dropped root
    awk -v out="$2" -v root="$3" '
    BEGIN { lib["/lib"] = lib["/usr/lib"] = lib["/usr/local/lib"] = 1; printf "" > out }
    function path(l) { sub(/^[^=]*= *"/, "", l); sub(/"$/, "", l); return l }
    # First pass: which [[fs]] block to drop.
    NR == FNR && $0 == "[[fs]]" { n++; inblk = 1; next }
    NR == FNR && inblk && /^path = / { if (!pick && !(path($0) in lib)) pick = n; inblk = 0; next }
    NR == FNR { next }
    FNR == 1 { if (!pick && n) pick = 1; k = 0 }
    $0 == "[[fs]]" { k++; if (k == pick) { skip = 1; next } }
    skip && /^path = / { print path($0) > root; next }
    skip && /^\[/ { skip = 0 }
    skip { next }
    { print > out }
    END { if (!pick) { printf "" > out; print "(every rule)" > root } }' "$1" "$1"
}

# --- one case --------------------------------------------------------
# The variables a case may set before `survey NAME INVOCATION`:
#   ENVS     assignments exported for every run (TZ=...)
#   EFFECTS  shell text run in $D after a run instead of the checksums
#   RUNNER   a function run instead of the invocation, given the
#            sigcap-run prefix (empty for the plain run)
#   NOTE     a note for the row
#   NEEDS    the program that must be in the image
reset() { ENVS=; EFFECTS=; RUNNER=; NOTE=; NEEDS=; }
reset

# Runs the case once: $1 = mode (plain, perm, replay, narrow), $2 = the
# sigcap-run prefix. Output in $O/<name>.<mode>.{out,err,fx}; returns the
# exit status.
run1() {
    fresh
    (
        cd "$D" || exit 1
        for e in $ENVS; do export "${e?}"; done
        if [ -n "$RUNNER" ]; then
            "$RUNNER" "$2"
        else
            eval "timeout $T $2 $INV"
        fi
    ) < /dev/null > "$O/$N.$1.out" 2> "$O/$N.$1.err"
    st=$?
    effects > "$O/$N.$1.fx"
    return $st
}
# What differs between a run and the plain run: "" when nothing does.
differs() { # mode status
    w=
    cmp -s "$O/$N.plain.out" "$O/$N.$1.out" || w="stdout"
    [ "$2" = "$PST" ] || w="$w${w:+, }exit $PST -> $2"
    cmp -s "$O/$N.plain.fx" "$O/$N.$1.fx" || w="$w${w:+, }files"
    echo "$w"
}
# A failure of sigcap-run itself, or "".
toolfail() { # mode status report
    if [ "$2" = 125 ] || grep -q '^sigcap-run: error' "$O/$N.$1.err"; then
        echo "sigcap-run failed (exit $2): $(grep -m1 '^sigcap-run' "$O/$N.$1.err")"
    elif [ "$2" = 124 ] && [ "$PST" != 124 ]; then
        echo "timed out after ${T}s (the plain run did not)"
    elif [ "$2" -gt 128 ] && [ "$2" != "$PST" ] && [ "$2" != 124 ]; then
        echo "killed (status $2; the plain run: $PST)"
    elif [ ! -s "$3" ]; then
        echo "no report written"
    fi
}
firsterr() { # mode: the program's first line of stderr, for a note
    grep -v '^sigcap-run' "$O/$N.$1.err" | head -n 1 | cut -c1-160
}

# SIGCAP_SURVEY_ONLY="name ...": only those cases (xtask's unit test).
CASENO=0
wanted() {
    # Part K of N (third argument): every Nth case, so that each part
    # stays within the guest init's time limit per program.
    CASENO=$((CASENO + 1))
    if [ "$PARTS" -gt 1 ] && [ $(((CASENO - 1) % PARTS + 1)) -ne "$PART" ]; then
        reset
        return 1
    fi
    [ -z "${SIGCAP_SURVEY_ONLY:-}" ] && return 0
    case " $SIGCAP_SURVEY_ONLY " in *" $1 "*) return 0 ;; esac
    reset
    return 1
}

survey() { # name invocation
    wanted "$1" || return 0
    N=$1
    INV=$2
    if [ $(($(date +%s) - START)) -gt "$BUDGET" ]; then
        row "$N" "$INV" - - - - - - "not run" "the survey's ${BUDGET}s budget was spent"
        proto skip "$N" "not run: time budget of ${BUDGET}s spent"
        SKIPPED=$((SKIPPED + 1)); reset; return
    fi
    prog=${NEEDS:-$(echo "$INV" | awk '{ for (i = 1; i <= NF; i++) if ($i !~ /=/) { print $i; exit } }')}
    if ! command -v "$prog" > /dev/null 2>&1; then
        row "$N" "$INV" - - - - - - "not run" "$prog is not in the image"
        proto skip "$N" "$prog is not in the image"
        SKIPPED=$((SKIPPED + 1)); reset; return
    fi
    R=$O/$N.json P=$O/$N.toml RR=$O/$N.replay.json NP=$O/$N.narrow.toml NR=$O/$N.narrow.json
    run1 plain ""
    PST=$?
    run1 perm "$SR -q --report $R --suggest-policy $P --"
    pst=$?
    verdict=pass why=
    fail=$(toolfail perm $pst "$R")
    viol=- pol=- perm=- replay=- narrowed=- unsup=
    if [ -s "$R" ]; then
        { read -r viol; read -r unsup; } <<EOF
$(classes "$R")
EOF
    fi
    [ -s "$P" ] && pol=$(rules "$P")
    note=$NOTE
    if [ -n "$fail" ]; then
        verdict=fail why=$fail perm="sigcap-run failed"
        note="$note${note:+; }$fail"
    else
        d=$(differs perm $pst)
        if [ -z "$d" ]; then
            perm="same (exit $PST)"
        else
            perm="differs: $d"
            e=$(firsterr perm)
            if [ -n "$unsup" ]; then
                why="limitation: not brokered: $unsup"
                note="$note${note:+; }${e:+the program says: $e}"
            else
                verdict=fail why="permissive run differs ($d) and no unsupported call explains it"
                note="$note${note:+; }$why${e:+; the program says: $e}"
                # What differs, on the console, for whoever reads the log.
                for k in out fx; do
                    diff "$O/$N.plain.$k" "$O/$N.perm.$k" | head -n 20 | sed "s|^|SIGCAP-SURVEY-DIFF $N $k: |"
                done
                # And the calls the report says failed (but for missing
                # files) or were refused, one line each.
                awk '/"syscall":/ { if (keep) print v; v = ""; keep = 0 }
                    /"(syscall|path|address|decision|reason|error|pids)":/ { sub(/^ +/, ""); v = v " " $0 }
                    /"error":/ && !/ENOENT/ || /"denied"/ { keep = 1 }
                    END { if (keep) print v }' "$R" | head -n 40 | sed "s|^|SIGCAP-SURVEY-DIFF $N report:|"
            fi
        fi
        if [ -s "$P" ]; then
            run1 replay "$SR -q --report $RR --policy $P --"
            rst=$?
            f2=$(toolfail replay $rst "$RR")
            if [ -n "$f2" ]; then
                replay="sigcap-run failed"
                verdict=fail why="replay: $f2"
            else
                d2=$(differs replay $rst)
                if [ -z "$d2" ]; then
                    replay="works"
                elif [ -n "$d" ]; then
                    replay="differs: $d2 (as the permissive run)"
                else
                    den=$(denial "$RR")
                    replay="differs: $d2${den:+; denied $den}"
                    verdict=fail why="the suggested policy does not replay the run ($d2)"
                    e2=$(firsterr replay)
                    note="$note${note:+; }${e2:+under its policy the program says: $e2}"
                    for k in out fx err; do
                        [ "$k" = err ] && { sed "s|^|SIGCAP-SURVEY-DIFF $N replay err: |" "$O/$N.replay.err" | head -n 20; continue; }
                        diff "$O/$N.plain.$k" "$O/$N.replay.$k" | head -n 20 | sed "s|^|SIGCAP-SURVEY-DIFF $N replay $k: |"
                    done
                fi
            fi
            # The narrower policy, where the policy replays the run.
            if [ "$replay" = works ]; then
                narrow "$P" "$NP" "$O/$N.dropped"
                dropped=$(cat "$O/$N.dropped" 2>/dev/null)
            fi
            if [ "$replay" = works ] && [ "$dropped" = "(every rule)" ]; then
                # Nothing to drop: the run needed no rule at all (tr on
                # its standard input), so no narrower policy exists.
                narrowed="none narrower (the least policy is empty)"
            elif [ "$replay" = works ]; then
                run1 narrow "$SR -q --report $NR --policy $NP --"
                nst=$?
                if [ "$dropped" = "(every rule)" ]; then den=$(denial "$NR"); else den=$(denial "$NR" "$dropped"); fi
                f3=$(toolfail narrow $nst "$NR")
                if [ -n "$f3" ]; then
                    narrowed="sigcap-run failed"
                    verdict=fail why="narrower policy: $f3"
                elif [ -n "$den" ]; then
                    narrowed="refused without $dropped: denied $den, exit $nst"
                else
                    narrowed="not refused without $dropped (exit $nst${den:+, denied $den})"
                    verdict=fail why="a narrower policy (without $dropped) was not refused"
                fi
            fi
        fi
    fi
    case $verdict:$why in
        fail:*) v=FAIL ;;
        pass:limitation*) v=limitation ;;
        *) v=ok ;;
    esac
    row "$N" "$INV" "$viol" "${unsup:--}" "$pol" "$perm" "$replay" "$narrowed" "$v" "$note"
    # The row says whether the program works; the test result only
    # whether sigcap-run itself did its job on it (it ran the program,
    # wrote the report and policy, replayed, ...): a program that does
    # not work confined is a finding of the survey, not a failure of it.
    case $why in
        "permissive run differs"*|"the suggested policy does not replay"*|"a narrower policy"*|limitation*)
            proto pass "$N" "$(field "sigcap-run ran it; the program: $v, $why")" ;;
        *) proto "$verdict" "$N" "$(field "${why:-permissive run as plain; policy replays; narrower refused}")" ;;
    esac
    case $v in
        ok) PASSED=$((PASSED + 1)) ;;
        FAIL) FINDINGS=$((FINDINGS + 1)) ;;
    esac
    case $verdict:$why in
        fail:"permissive run differs"*|fail:"the suggested policy does not replay"*|fail:"a narrower policy"*) ;;
        fail:*) FAILED=$((FAILED + 1)) ;;
    esac
    reset
}
notrun() { # name invocation why
    wanted "$1" || return 0
    row "$1" "$2" - - - - - - "not run" "$3"
    proto skip "$1" "$3"
    SKIPPED=$((SKIPPED + 1))
}

# --- the daemons -----------------------------------------------------
# Waits (up to 10 s) until the test command $@ holds.
await() {
    i=0
    while ! "$@" 2> /dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i + 1)); done
}
# Up to $1 tries, 0.2 s apart, while the job $2 runs, until "$3..." holds.
await_while() {
    n=$1 job=$2 i=0
    shift 2
    while kill -0 "$job" 2> /dev/null && ! "$@" 2> /dev/null && [ $i -lt "$n" ]; do
        sleep 0.2
        i=$((i + 1))
    done
}
# syslogd in the foreground, no network sockets (-ss), its sockets, pid
# file and log in the work directory; logger sends one message to it
# over the local socket. The daemon is stopped with SIGTERM once the
# message is logged, or after 30 s while it runs (its start, casper
# services included, is slow under sigcap-run on an emulated CPU); by
# its command line, as a run under a policy may have no pid file.
run_syslogd() {
    eval "timeout 60 $1 syslogd -F -ss -f $D/syslog.conf -p $D/log.sock -S $D/logpriv.sock -P $D/syslogd.pid" &
    bg=$!
    await_while 150 $bg test -S "$D/log.sock"
    logger -h "$D/log.sock" -t survey "hello from the survey" > /dev/null 2>&1
    await_while 150 $bg grep -q 'hello from the survey' "$D/messages"
    pkill -TERM -f "^syslogd -F -ss -f $D/syslog.conf" 2> /dev/null
    wait $bg
}
# rpcbind in debug mode (no fork), bound to the loopback; a TCP connect
# to port 111 checks it serves.
run_rpcbind() {
    eval "timeout $DT $1 rpcbind -d -h 127.0.0.1" > /dev/null &
    bg=$!
    await nc -z 127.0.0.1 111
    if nc -z 127.0.0.1 111 > /dev/null 2>&1; then echo "tcp 127.0.0.1:111 answers"; else echo "tcp 127.0.0.1:111 closed"; fi
    wait $bg
}

# tftpd as inetd(8) runs it (`dgram wait`), neither of which the image
# has: sigcap-tftp-inetd binds a UDP socket on the loopback, queues a
# read request for a.txt on it, runs tftpd with it as standard input,
# and is the client, writing what it gets to got.txt. tftpd reads the
# request, forks and exits; its child, which sigcap-run follows to its
# end, sends the file from a socket of its own.
run_tftpd() {
    eval "timeout 120 /tests/sigcap-tftp-inetd $D/a.txt $D/got.txt $1 /usr/libexec/tftpd $D"
}

# --- the cases -------------------------------------------------------
# The kinds the issue names first (sh -c pipelines, find -exec, tar -z,
# mv, ln -s, mkdir -p, cp -R, ls -l, date with TZ), then the daemons,
# then the rest of the world.
survey sh-builtins "sh -c 'for f in *.txt; do read -r l < \"\$f\"; echo \"\$f: \$l\"; done > first-lines'"
survey sh-pipeline "sh -c 'sort words.txt | uniq -c > counts'"
survey find "find . -name '*.txt'"
survey find-exec "find . -name '*.txt' -exec wc -l {} +"
# An archive's listing, not its bytes: gzip's header holds the time of
# the run.
EFFECTS='tar -tvzf out.tgz'
survey tar-cz "tar -czf out.tgz src"
survey tar-xz "tar -xzof a.tgz -s /^src/x/"
EFFECTS='tar -tvJf out.txz'
survey tar-cJ "tar -cJf out.txz src"
survey tar-xJ "tar -xJof a.txz -s /^src/y/"
survey mv "mv a.txt moved.txt"
survey mv-into "mv b.txt nums.txt sub/"
survey ln-s "ln -s a.txt link"
survey mkdir-p "mkdir -p new/deep/er"
survey cp-R "cp -R src copy"
survey cp "cp a.txt a-copy.txt"
survey ls "ls"
survey ls-l "ls -l"
survey ls-l-dir "ls -l src"
ENVS="TZ=$TZ_SURVEY"
NOTE="TZ=$TZ_SURVEY"
survey date-TZ "date -r 1690000000 '+%F %T %Z'"
RUNNER=run_syslogd
EFFECTS="ls; grep -c 'hello from the survey' messages"
NOTE="logger (not confined) sends one message over the local socket; syslogd is Capsicumized in 15.x itself (casper) and runs here confined from main()"
survey syslogd "syslogd -F -ss -f \$WORK/syslog.conf -p \$WORK/log.sock -S \$WORK/logpriv.sock -P \$WORK/syslogd.pid"
if command -v rpcbind > /dev/null 2>&1 && ! (: > /var/run/.survey) 2> /dev/null; then
    # The read-only image: rpcbind creates /var/run/rpcbind.lock and
    # /var/run/rpcbind.sock.
    mount -t tmpfs tmpfs /var/run 2> /dev/null && MOUNTED_VARRUN=1
fi
RUNNER=run_rpcbind
EFFECTS=:
NOTE="nc -z (not confined) checks the TCP port; its other effects are in /var/run (a tmpfs here)"
survey rpcbind "rpcbind -d -h 127.0.0.1"
[ -n "${MOUNTED_VARRUN:-}" ] && umount /var/run
RUNNER=run_tftpd
NEEDS=/usr/libexec/tftpd
NOTE="sigcap-tftp-inetd stands in for inetd and tftp(1) (not in this image): the request waits on descriptor 0, tftpd forks and exits, and its child sends a.txt; sigcap-run follows that child to its end"
survey tftpd "/usr/libexec/tftpd \$WORK"
notrun ggated "ggated" "not in this image: ggated serves GEOM Gate devices (geom_gate.ko, a disk and a client ggatec) that the test image does not have"
survey cat "cat a.txt b.txt"
survey grep-r "grep -rn needle ."
survey sed "sed -n 's/needle/pin/p' a.txt b.txt"
survey awk "awk -F: '{ s += \$2 } END { print s }' nums.txt"
survey sort-o "sort -k2 -o sorted.txt words.txt"
survey uniq "uniq -c s1.txt"
survey wc "wc -l a.txt b.txt big.txt"
survey head "head -n 3 words.txt"
survey tail "tail -n 2 big.txt"
survey cut "cut -d: -f1 nums.txt"
survey tr-stdin "tr a-z A-Z < a.txt"
survey comm "comm -12 s1.txt s2.txt"
survey diff "diff -u a.txt b.txt"
survey cmp "cmp a.txt b.txt"
survey hexdump "hexdump -C small.bin"
survey split "split -l 2 words.txt part."
survey tee "tee copy.txt < a.txt"
survey xargs "xargs -n 2 < list.txt"
survey cpio-i "cpio -id --quiet --no-preserve-owner < a.cpio"
survey unzip "unzip -q -d unz a.zip"
survey gzip "gzip -n -k big.txt"
survey gunzip "gzip -d c.txt.gz"
survey bzip2 "bzip2 -k big.txt"
survey xz "xz -k big.txt"
survey zstd "zstd -q big.txt -o big.zst"
survey dd "dd if=big.txt of=dd.out bs=512 count=4"
survey rm "rm a.txt"
survey rm-r "rm -r src"
survey touch "touch -t 202401010000 new.txt"
survey du "du -s src"
survey stat "stat -f '%N %z %Sp' a.txt src"
survey realpath "realpath src/docs/../README"
survey sha256 "sha256 a.txt b.txt"
survey md5 "md5 -r a.txt small.bin"
survey file "file a.txt small.bin a.tgz src"
survey id "id -un"
survey ps "ps -o comm= -p 1"
survey sysctl "sysctl -n kern.ostype"

# What the rows were made with, for the document's header.
echo "SIGCAP-SURVEY-INFO system=$(sysctl -n kern.ostype) $(sysctl -n kern.osrelease)"
echo "SIGCAP-SURVEY-INFO backend=$(sed -n 's/^  "backend": "\(.*\)",*$/\1/p' "$O"/*.json 2>/dev/null | sort -u | tr '\n' ' ' | sed 's/ $//')"
echo "SIGCAP-SURVEY-INFO date=$(date -u '+%Y-%m-%d %H:%M UTC')"
echo "survey: $PASSED work as plain, $FINDINGS differ unexplained, $SKIPPED not run, $FAILED sigcap-run failures in $(($(date +%s) - START))s; reports and policies in $O"
[ "$FAILED" -eq 0 ]
