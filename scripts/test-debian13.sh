#!/bin/sh
# Proxmox VE 9 is Debian 13: run the README's two commands there as a new user would.
# Makes (or reuses) a minimal trixie root at $1 (build/debian13/full), installs only
# the prerequisites the README names, clones this working tree into it afresh
# (committed work plus uncommitted changes to tracked files), and in a private mount
# namespace runs `make demo` (which must print the hello) and `make test`.
# The root and its minbase tarball stay cached under build/ between runs; the clone
# is made anew every time, so a failed run leaves nothing a later one depends on.
set -eu
dir=$(realpath -m "${1:?usage: test-debian13.sh ROOTDIR}")
here=$(dirname "$(realpath "$0")")
top=$(dirname "$here")

say() { echo "lxcri-debian13: $*"; }
die() { echo "lxcri-debian13: error: $*" >&2; exit 1; }

# The README's prerequisites line for a minimal Debian: keep the two in step.
sh "$here/debian-root.sh" trixie "$dir" make git ca-certificates

# A clone of HEAD, plus uncommitted changes to tracked files (a stash commit, reached
# through a temporary ref so that the clone can fetch it).
rev=$(git -C "$top" stash create 2>/dev/null || true)
[ -n "$rev" ] || rev=$(git -C "$top" rev-parse HEAD)
ref=refs/lxcri/debian13-$$
git -C "$top" update-ref "$ref" "$rev"
trap 'git -C "$top" update-ref -d "$ref"' EXIT
rm -rf "$dir/root/lxcri"
git clone -q --no-local "$top" "$dir/root/lxcri" &&
    git -C "$dir/root/lxcri" fetch -q origin "$ref" &&
    git -C "$dir/root/lxcri" -c advice.detachedHead=false checkout -q FETCH_HEAD ||
    die "cannot clone $top at $rev into $dir/root/lxcri"
extra=$( [ "$rev" = "$(git -C "$top" rev-parse HEAD)" ] || echo ' + uncommitted changes')
say "fresh clone of $(git -C "$top" rev-parse --short HEAD)$extra in $dir/root/lxcri"

# Each command's output streams through; its status comes back through a file.
inside() {
    name=$1; shift
    { sh "$here/in-root.sh" "$dir" env LXCRI_NESTED=debian13 sh -c "cd /root/lxcri && $*" 2>&1
      echo $? >"$dir/root/$name.rc"; } | tee "$dir/root/$name.log"
    [ "$(cat "$dir/root/$name.rc")" = 0 ]
}
inside demo make demo || die "make demo failed on Debian 13 (log: $dir/root/demo.log)"
grep -q 'hello from lxcri-demo, I am pid 1 in a container run by lxcri' "$dir/root/demo.log" ||
    die "make demo on Debian 13 did not print the hello (log: $dir/root/demo.log)"
say "make demo printed the hello"
inside test make test || die "make test failed on Debian 13 (log: $dir/root/test.log)"
say "make test passed on Debian 13"
