#!/bin/sh
# sigcap-run in a FreeBSD 14+ guest: tar and unzip extracting an archive,
# and ls -l, each run permissive (report + suggested policy), then again
# with the suggested policy, then with a narrower one that must be refused.
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
    if "$@"; then ok "$d"; else bad "$d"; fi
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
# chdir(2) is not brokered, so extract from inside the destination rather
# than with -C. As root, bsdtar restores owners with lchown(2), which the
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
# capability mode forbids; sigcap answers fchdir to the working directory
# itself (a no-op) without the broker.
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
# ls -l of another directory: fts fchdir()s into it, and -l asks
# lpathconf(2) about ACLs; neither can be done for the process by a broker.
# The report must name them.
sr --report lsdir.json -- ls -l src > /dev/null 2>&1
check "ls -l of a directory: breaks (exit != 0)" [ $? -ne 0 ]
check "ls -l of a directory: fchdir reported unsupported" has lsdir.json '"decision": "unsupported"'

echo "reports and policies in $W"
exit $FAILED
