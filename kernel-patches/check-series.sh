#!/bin/sh
#
# check-series.sh - does a FreeBSD source tree match the base of a patch
# series, and does the series apply to it?
#
# usage: check-series.sh [-v] SRCDIR [SERIESDIR]
#
#   SRCDIR     root of a FreeBSD source tree (need not be a git work tree)
#   SERIESDIR  directory with `series`, the patches and `base-manifest`
#              (default: the 15.1 directory next to this script)
#
# 1. For every "<blob-sha1> <path>" line of base-manifest, compare the
#    git blob id of SRCDIR/<path> (git hash-object) with the expected one.
#    An all-zero id means the path must not exist (the series adds it).
#    Every differing or missing file is named.
# 2. Check that the patches, in `series` order, apply: a scratch copy of
#    the manifest's files is made and `git apply --check` then `git apply`
#    is run patch by patch, so later patches are checked against the
#    result of the earlier ones.  SRCDIR itself is never modified.
#
# Exit status: 0 if the tree is the expected base and the series applies,
# 1 if not, 2 on usage errors.

set -u

verbose=0
if [ "${1:-}" = "-v" ]; then
	verbose=1
	shift
fi
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 [-v] SRCDIR [SERIESDIR]" >&2
	exit 2
fi
src=$1
series_dir=${2:-$(cd "$(dirname "$0")" && pwd)/15.1}
manifest=$series_dir/base-manifest
series=$series_dir/series

for f in "$manifest" "$series"; do
	if [ ! -f "$f" ]; then
		echo "$0: $f: not found" >&2
		exit 2
	fi
done
if [ ! -d "$src" ]; then
	echo "$0: $src: not a directory" >&2
	exit 2
fi
command -v git >/dev/null 2>&1 || { echo "$0: git not found" >&2; exit 2; }

zero=0000000000000000000000000000000000000000
status=0
checked=0
differ=0

echo "base: $(sed -n '1s/^# *//p' "$manifest")"
while read -r id path; do
	case "$id" in
	''|'#'*) continue ;;
	esac
	checked=$((checked + 1))
	if [ "$id" = "$zero" ]; then
		if [ -e "$src/$path" ]; then
			echo "DIFFERS  $path (exists, the series adds it)"
			differ=$((differ + 1))
		elif [ $verbose -eq 1 ]; then
			echo "ok       $path (absent)"
		fi
		continue
	fi
	if [ ! -f "$src/$path" ]; then
		echo "MISSING  $path"
		differ=$((differ + 1))
		continue
	fi
	have=$(git hash-object --no-filters "$src/$path")
	if [ "$have" != "$id" ]; then
		echo "DIFFERS  $path (have $have, base $id)"
		differ=$((differ + 1))
	elif [ $verbose -eq 1 ]; then
		echo "ok       $path"
	fi
done < "$manifest"

if [ $differ -ne 0 ]; then
	echo "manifest: $differ of $checked files differ from the base"
	status=1
else
	echo "manifest: all $checked files match the base"
fi

# Apply the series to a scratch copy of the files it touches.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-series.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT INT TERM
# Keep git apply from finding a repository above the scratch directory
# (inside one it would skip the paths outside the current directory).
GIT_CEILING_DIRECTORIES=$(dirname "$tmp")
export GIT_CEILING_DIRECTORIES
while read -r id path; do
	case "$id" in
	''|'#'*) continue ;;
	esac
	[ "$id" = "$zero" ] && continue
	[ -f "$src/$path" ] || continue
	mkdir -p "$tmp/$(dirname "$path")"
	cp -p "$src/$path" "$tmp/$path"
done < "$manifest"

applied=0
while read -r p; do
	case "$p" in
	''|'#'*) continue ;;
	esac
	if ! (cd "$tmp" && git apply --check "$series_dir/$p" 2>"$tmp/.err"); then
		echo "FAILS    $p:"
		sed 's/^/         /' "$tmp/.err"
		status=1
		break
	fi
	(cd "$tmp" && git apply "$series_dir/$p")
	applied=$((applied + 1))
	[ $verbose -eq 1 ] && echo "applies  $p"
done < "$series"
if [ $status -eq 0 ]; then
	echo "series: all $applied patches apply"
fi
exit $status
