#!/bin/sh
# sigcap-run in a FreeBSD 14+ guest: tar and unzip extracting an archive,
# ls and ls -l, mv, ln -s, chmod, touch and tar -x with owners, each run
# permissive (report + suggested policy), then again with the suggested
# policy, then with a narrower one that must be refused.
#
#   sh sigcap-run/freebsd-guest-test.sh /path/to/sigcap-run [backend]
#
# The shim (libsigcap_run_shim.so) must sit next to the binary, or be
# named by SIGCAP_RUN_SHIM. backend: freebsd-sigcap (patched kernel) or
# freebsd-sigtrap (stock); default: the best available. Prints one
# "ok"/"FAIL" line per check; exits non-zero if any check failed.
set -u
TOOL=${1:?usage: $0 /path/to/sigcap-run [freebsd-sigcap|freebsd-sigtrap]}
BACKEND=${2:-}
TOOL=$(realpath "$TOOL")
W=$(mktemp -d /tmp/sigcap-run-guest.XXXXXX)
cd "$W" || exit 1
FAILED=0
# Under the xtask's guest init (SIGCAP_TEST_PROTOCOL=1) each check is also a
# "SIGCAP-TEST sigcap-run <case> pass|fail <description>" line.
proto() { # result, description
    [ -n "${SIGCAP_TEST_PROTOCOL:-}" ] || return 0
    echo "SIGCAP-TEST sigcap-run $(echo "$2" | tr -cs 'A-Za-z0-9' '_' | sed 's/_$//') $1 $2"
}
ok() { echo "ok   $*"; proto pass "$*"; }
bad() { echo "FAIL $*"; proto fail "$*"; FAILED=1; }
check() { # description, command...
    d=$1; shift
    if "$@"; then ok "$d"; else bad "$d"; return 1; fi
}
sr() { # sigcap-run with the chosen backend
    if [ -n "$BACKEND" ]; then "$TOOL" --backend "$BACKEND" --color never "$@"; else "$TOOL" --color never "$@"; fi
}
has() { grep -q -- "$2" "$1"; }

mkdir -p src/docs/deep
echo readme > src/README
echo guide > src/docs/guide.txt
echo notes > src/docs/deep/notes.txt
tar cf a.tar src
tar --format zip -cf a.zip src   # bsdtar writes zip: no zip(1) needed

fresh() { rm -rf "$W/out"; mkdir "$W/out"; }
narrow_ro() { # policy file -> same policy with the destination read-only
    awk -v out="$W/out" '
        $0 == "path = \"" out "\"" { hit = 1; print; next }
        hit && /^access/ { print "access = [\"read\"]"; hit = 0; next }
        { print }' "$1"
}

# --- tar (bsdtar): the ktrace CAPFAIL case ---
# Extracted from inside the destination here; -C (a chdir, brokered into
# the emulated working directory) is checked below. As root, bsdtar restores owners with lchown(2), which the
# broker does not perform (it would report "unsupported" and tar would exit
# 1): -o extracts as the running user, as a non-root user gets anyway.
fresh
(cd out && sr --report "$W/tar.json" --suggest-policy "$W/tar.toml" -- tar xof ../a.tar)
check "tar permissive: exit 0" [ $? -eq 0 ]
check "tar permissive: files extracted" [ "$(cat out/src/docs/deep/notes.txt 2>/dev/null)" = notes ]
check "tar report: open of a.tar listed" has tar.json '"path": "../a.tar"'
check "tar report: mkdir of src/docs listed" has tar.json '"path": "src/docs"'
check "tar report: create of src/docs/guide.txt listed" has tar.json '"path": "src/docs/guide.txt"'
check "tar report: backend is FreeBSD" has tar.json '"backend": "freebsd-'
check "tar policy: destination writable" has tar.toml "path = \"$W/out\""
fresh
(cd out && sr -q --policy "$W/tar.toml" -- tar xof ../a.tar)
check "tar with suggested policy: exit 0" [ $? -eq 0 ]
check "tar with suggested policy: files extracted" [ "$(cat out/src/README 2>/dev/null)" = readme ]
narrow_ro tar.toml > tar-narrow.toml
fresh
(cd out && sr -q --report "$W/tar-narrow.json" --policy "$W/tar-narrow.toml" -- tar xof ../a.tar)
check "tar with read-only destination: refused (exit != 0)" [ $? -ne 0 ]
check "tar with read-only destination: denied records" has tar-narrow.json '"decision": "denied"'
check "tar with read-only destination: nothing created" [ ! -e out/src/README ]

# tar -C: chdir(2), which capability mode refuses, brokered; the relative
# paths after it resolve against the emulated working directory.
fresh
sr -q -- tar xof a.tar -C out
check "tar -C permissive: exit 0" [ $? -eq 0 ]
check "tar -C permissive: files extracted into out" [ "$(cat out/src/docs/deep/notes.txt 2>/dev/null)" = notes ]

# --- unzip ---
fresh
(cd out && sr --report "$W/unzip.json" --suggest-policy "$W/unzip.toml" -- unzip -q ../a.zip)
check "unzip permissive: exit 0" [ $? -eq 0 ]
check "unzip permissive: files extracted" [ "$(cat out/src/docs/guide.txt 2>/dev/null)" = guide ]
check "unzip report: open of a.zip listed" has unzip.json '"path": "../a.zip"'
fresh
(cd out && sr -q --policy "$W/unzip.toml" -- unzip -q ../a.zip)
check "unzip with suggested policy: exit 0" [ $? -eq 0 ]
narrow_ro unzip.toml > unzip-narrow.toml
fresh
(cd out && sr -q --policy "$W/unzip-narrow.toml" -- unzip -q ../a.zip)
check "unzip with read-only destination: refused (exit != 0)" [ $? -ne 0 ]

# --- ls ---
# ls in a directory: fts(3) opens "." (brokered) and fchdir()s to it, which
# capability mode forbids; sigcap answers fchdir to the (emulated) working
# directory itself (a no-op) without the broker.
(cd src && sr --report "$W/ls.json" --suggest-policy "$W/ls.toml" -- ls) > ls.out
check "ls permissive: exit 0" [ $? -eq 0 ]
check "ls permissive: listing" has ls.out 'docs'
check "ls report: open of . listed" has ls.json '"path": "."'
check "ls report: fchdir to the working directory answered" has ls.json '"syscall": "fchdir"'
# Stacks: the calls come from libc (fts), built without frame pointers;
# the stack scan reaches ls's own code, which the summary names.
check "ls report: a stack frame in ls itself" has ls.json '"object": "/bin/ls"'
check "ls report: the program's own frame is marked" has ls.json '"program_frame"'
check "tar report: the program's own frame is marked" has tar.json '"program_frame"'
(cd src && sr -q --policy "$W/ls.toml" -- ls) > ls2.out
check "ls with suggested policy: exit 0" [ $? -eq 0 ]
check "ls with suggested policy: same listing" cmp -s ls.out ls2.out
printf '' > ls-narrow.toml
(cd src && sr -q --report "$W/ls-narrow.json" --policy "$W/ls-narrow.toml" -- ls) > /dev/null 2>&1
check "ls with an empty policy: refused (exit != 0)" [ $? -ne 0 ]
check "ls with an empty policy: denied records" has ls-narrow.json '"reason": "no-rule"'
# ls -l of another directory: fts fchdir()s into it (brokered: the
# emulated working directory follows), and -l asks lpathconf(2) about
# ACLs, which the broker answers (fpathconf of the file resolved beneath
# its root).
sr --report lsdir.json -- ls -l src > lsdir.out 2> lsdir.err
echo "ls -l src: exit $? ($(wc -l < lsdir.err) line(s) on stderr)"
fchdir_decisions() { awk '/"syscall": "fchdir"/ { f = 1 } f && /"decision"/ { print; f = 0 }' "$1"; }
fchdir_allowed() { fchdir_decisions "$1" | grep -q allowed && ! fchdir_decisions "$1" | grep -q unsupported; }
check "ls -l of a directory: fchdir into it allowed" fchdir_allowed lsdir.json
check "ls -l of a directory: the listing names its entries" has lsdir.out 'docs'
check "ls -l of a directory: lpathconf brokered" sh -c \
    "grep -A16 '\"syscall\": \"lpathconf\"' lsdir.json | grep -q '\"decision\": \"allowed\"'"
check "ls -l of a directory: lpathconf not unsupported" sh -c \
    "! grep -A16 '\"syscall\": \"lpathconf\"' lsdir.json | grep -q '\"decision\": \"unsupported\"'"

# --- mv, ln -s, chmod, touch, tar -x with owners (issue #11 item 5) ---
# Each permissive (nothing unsupported), then replayed under its
# suggested policy; the effect checked both times, then a read-only
# policy that must refuse it.
fm() { rm -rf "$W/fm"; mkdir "$W/fm"; echo data > "$W/fm/f.txt"; chmod 640 "$W/fm/f.txt"; }
fm_case() { # name, effect-check (sh), command...
    name=$1; effect=$2; shift 2
    fm
    (cd fm && sr --report "$W/$name.json" --suggest-policy "$W/$name.toml" -- "$@")
    st=$?
    # On a failure, the refused entries of the report, for the log.
    [ $st -eq 0 ] || grep -B4 -A30 '"decision": "denied"' "$W/$name.json" | head -80
    check "$name permissive: exit 0" [ $st -eq 0 ]
    check "$name permissive: done" sh -c "cd $W/fm && $effect"
    check "$name permissive: nothing unsupported" sh -c "! grep -q '\"unsupported\"' $W/$name.json"
    fm
    (cd fm && sr -q --policy "$W/$name.toml" -- "$@")
    check "$name with suggested policy: exit 0" [ $? -eq 0 ]
    check "$name with suggested policy: done" sh -c "cd $W/fm && $effect"
    fm
    printf '[[fs]]\npath = "%s"\naccess = ["read"]\n' "$W/fm" > "$name-ro.toml"
    (cd fm && sr -q --policy "$W/$name-ro.toml" -- "$@") > /dev/null 2>&1
    check "$name with a read-only policy: refused (exit != 0)" [ $? -ne 0 ]
    check "$name with a read-only policy: not done" sh -c "cd $W/fm && ! ( $effect )"
}
export TZ=UTC   # touch -t below is read in the local time zone
fm_case mv '[ -f moved.txt ] && [ ! -e f.txt ]' mv f.txt moved.txt
fm_case ln-s '[ "$(readlink link)" = f.txt ]' ln -s f.txt link
fm_case chmod '[ "$(stat -f %Lp f.txt)" = 600 ]' chmod 600 f.txt
fm_case touch '[ "$(stat -f %m f.txt)" = 981173106 ]' touch -t 200102030405.06 f.txt
if [ "$(id -u)" = 0 ]; then
    # bsdtar as root restores owners (lchown/fchownat), modes and times,
    # and symlinks: no -o needed any more.
    rm -rf stage && mkdir -p stage/x && echo owned > stage/x/owned
    chown 1234:4321 stage/x/owned && chmod 750 stage/x/owned
    ln -s owned stage/x/link
    (cd stage && tar cf "$W/owners.tar" x)
    fm_case tar-owners '[ "$(stat -f %u:%g:%Lp x/owned)" = 1234:4321:750 ] && [ "$(readlink x/link)" = owned ]' \
        tar xf "$W/owners.tar"
else
    echo "skip tar -x with owners: not root"
fi

# --- the working directory (issue #11) ---
# mkdir -p x/y/z then find .: the tree and find's listing (fts fchdir()s
# into each directory) must be those of a plain run, and the suggested
# policy must replay. Capability mode refuses chdir and fchdir: sigcap
# emulates the working directory and resolves relative paths against it.
rm -rf plain boxed
mkdir plain boxed
(cd plain && mkdir -p x/y/z && find . | sort) > find-plain.out
(cd boxed && sr -q --report "$W/mkdir.json" --suggest-policy "$W/mkdir.toml" -- mkdir -p x/y/z)
check "mkdir -p x/y/z permissive: exit 0" [ $? -eq 0 ]
(cd boxed && find . | sort) > find-boxed.out
check "mkdir -p x/y/z permissive: the tree of a plain run" cmp -s find-plain.out find-boxed.out
(cd boxed && sr -q -- find . | sort) > find-boxed2.out
check "find . under sigcap-run: the listing of a plain run" cmp -s find-plain.out find-boxed2.out
rm -rf boxed/x
(cd boxed && sr -q --policy "$W/mkdir.toml" -- mkdir -p x/y/z)
check "mkdir -p x/y/z with its suggested policy: exit 0" [ $? -eq 0 ]
(cd boxed && find . | sort) > find-boxed3.out
check "mkdir -p x/y/z with its suggested policy: the tree of a plain run" cmp -s find-plain.out find-boxed3.out

# --- exec (issue #11) ---
# sh -c with a pipeline, a #! script and find -exec: each program run by
# a brokered fexecve (through the run-time linker), carrying the sandbox
# on; output and status compared with a plain run, one report for the
# whole tree, its policy replayed, and refused without exec.
if ! grep -q '"backend": "freebsd-sigcap"' "$W/mkdir.json"; then
    echo "skip exec: only SIGCAP can be blocked across an exec (stock FreeBSD kills on a blocked SIGTRAP trap)"
else
rm -rf ex && mkdir ex && printf 'b\na\nb\n' > ex/w.txt
printf '#!/bin/sh -e\necho "script: $1 in $(pwd)"\n' > ex/s.sh && chmod +x ex/s.sh
EXEC_CMD='sort w.txt | uniq -c | wc -l; ./s.sh arg; find . -name "*.txt" -exec cat {} +; /bin/echo "$(ls)"'
(cd ex && sh -c "$EXEC_CMD") > exec-plain.out
(cd ex && sr --report "$W/exec.json" --suggest-policy "$W/exec.toml" -- sh -c "$EXEC_CMD") > exec-boxed.out 2> exec-boxed.err
st=$?
[ $st -eq 0 ] || { cat exec-boxed.err; head -60 exec-boxed.out; }
check "exec: sh -c pipeline, #! script, find -exec permissive: exit 0" [ $st -eq 0 ]
check "exec: the output of a plain run" cmp -s exec-plain.out exec-boxed.out
check "exec: execve brokered, nothing unsupported" sh -c \
    "grep -q '\"execve\"' $W/exec.json && ! grep -q '\"unsupported\"' $W/exec.json" ||
    { grep -c '"execve"' exec.json; grep -B14 -A8 '"decision": "unsupported"' exec.json | head -40; }
check "exec: one report for the tree (4+ processes)" sh -c \
    "[ \$(grep -c '\"programs\"' $W/exec.json) -ge 4 ]"
check "exec: the suggested policy runs programs" grep -q '"exec"' "$W/exec.toml"
(cd ex && sr -q --policy "$W/exec.toml" -- sh -c "$EXEC_CMD") > exec-replay.out 2> exec-replay.err
check "exec with its suggested policy: exit 0" [ $? -eq 0 ] || cat exec-replay.err
check "exec with its suggested policy: the output of a plain run" cmp -s exec-plain.out exec-replay.out ||
    { diff exec-plain.out exec-replay.out; cat exec-replay.err exec.toml; }
# stdout is compared; what the programs said on stderr is shown.
[ -s exec-replay.err ] && sed 's/^/note: stderr under the policy: /' exec-replay.err
# A #! script named as the program runs through its interpreter, which
# the shim is loaded into; its policy replays.
(cd ex && ./s.sh top) > script-plain.out
(cd ex && sr -q --suggest-policy "$W/script.toml" -- ./s.sh top) > script-boxed.out 2> script-boxed.err
check "exec: a #! script as the program: exit 0" [ $? -eq 0 ] || cat script-boxed.err
check "exec: a #! script as the program: the output of a plain run" cmp -s script-plain.out script-boxed.out
(cd ex && sr -q --policy "$W/script.toml" -- ./s.sh top) > script-replay.out 2> script-replay.err
check "exec: a #! script as the program, with its suggested policy: the output of a plain run" \
    cmp -s script-plain.out script-replay.out || { cat script-replay.err "$W/script.toml"; }
# Without exec: a rule that granted only exec keeps read (an empty rule is
# refused as a policy error).
sed 's/\["exec"\]/["read"]/; s/, "exec"//; s/"exec", //' "$W/exec.toml" > "$W/exec-noexec.toml"
(cd ex && sr -q --report "$W/exec-noexec.json" --policy "$W/exec-noexec.toml" -- sh -c "$EXEC_CMD") > exec-noexec.out 2>&1
check "exec without exec in the policy: refused (exit != 0)" [ $? -ne 0 ]
check "exec without exec in the policy: the denial named" sh -c \
    "grep -A12 '\"execve\"' $W/exec-noexec.json | grep -q '\"denied\"'" ||
    { cat exec-noexec.out; cat exec-noexec.toml; }
fi

# --- sysctl (issue #11) ---
# ps reads kern.pid_max and its process's kern.proc node. Capability mode
# refuses both with EPERM and no signal; the shim's sysctl(3) and
# sysctlbyname(3) ask the broker, which decides by the policy's [sysctl]
# rules.
ps -o comm= -p 1 > ps-plain.out 2>&1
sr --report "$W/ps.json" --suggest-policy "$W/ps.toml" -- ps -o comm= -p 1 > ps-boxed.out 2> ps-boxed.err
st=$?
check "sysctl: ps permissive: exit 0" [ $st -eq 0 ] || cat ps-boxed.err
check "sysctl: ps permissive: the output of a plain run" cmp -s ps-plain.out ps-boxed.out ||
    { diff ps-plain.out ps-boxed.out; cat ps-boxed.err; }
check "sysctl: the report names kern.pid_max" has ps.json '"sysctl": "kern.pid_max"'
check "sysctl: the suggested policy reads kern.pid_max" has ps.toml '"kern.pid_max"' || cat ps.toml
sr -q --policy "$W/ps.toml" -- ps -o comm= -p 1 > ps-replay.out 2> ps-replay.err
st=$?
check "sysctl: ps with its suggested policy: exit 0" [ $st -eq 0 ] || cat ps-replay.err
check "sysctl: ps with its suggested policy: the output of a plain run" cmp -s ps-plain.out ps-replay.out
# The same policy without its [sysctl] section (the last one written).
sed '/^\[sysctl\]/,$d' "$W/ps.toml" > "$W/ps-nosysctl.toml"
sr -q --report "$W/ps-nosysctl.json" --policy "$W/ps-nosysctl.toml" -- ps -o comm= -p 1 > ps-nosysctl.out 2>&1
check "sysctl: ps without sysctl rules: refused (exit != 0)" [ $? -ne 0 ] || cat ps-nosysctl.out
check "sysctl: ps without sysctl rules: the denial named" sh -c \
    "grep -B3 -A12 '\"sysctl\": \"kern.pid_max\"' $W/ps-nosysctl.json | grep -q '\"denied\"'" ||
    { cat ps-nosysctl.out; cat ps-nosysctl.toml; }

echo "reports and policies in $W"
exit $FAILED
