#!/bin/sh
# Fetch crun's source and build libcrun (shared library only) under $1 (build/crun).
#
# Source, first match wins: $LXCRI_CRUN_SRC (a tarball or an unpacked tree, never
# modified or deleted here), else Debian's `crun` source package through apt-get
# source (a deb-src entry is added when none is configured); when the mirror serves
# only part of it (the .dsc or Debian's tarball missing), the upstream orig tarball
# from the same pool is built instead, without Debian's patches, and that is said.
# The tree is a build input: it lives under build/ and is never committed.
#
# Re-runnable: each step leaves its mark only once it has succeeded, so a failed or
# interrupted run is redone by the next one (the tree is unpacked beside its place
# and moved in whole; configure and the build have their own marks).
set -eu
out=$(realpath -m "${1:?usage: build-libcrun.sh OUTDIR}")
here=$(dirname "$(realpath "$0")")
src="$out/src"
built="$out/built"       # what the Makefile waits for: written last
unpacked=.lxcri-source   # in the tree: where it came from, written once it is whole
configured=.lxcri-configured

say() { echo "lxcri-build: $*"; }
die() { echo "lxcri-build: error: $*" >&2; exit 1; }

# What the tree is to be made from, in one line (recorded in the tree).
origin() {
    if [ -n "${LXCRI_CRUN_SRC:-}" ]; then
        echo "LXCRI_CRUN_SRC=$(realpath -m "$LXCRI_CRUN_SRC")"
    else
        echo "debian"
    fi
}

# sha256 that `apt-get source --print-uris` gives for FILE (from the signed Sources
# index), or nothing. Asked in an empty directory: apt skips files already there.
apt_sha256() {
    mkdir -p "$out/dl/uris"
    ( cd "$out/dl/uris" && apt-get source --print-uris crun 2>/dev/null ) |
        awk -v f="$1" '$2 == f && $4 ~ /^SHA256:/ { sub(/^SHA256:/, "", $4); print $4; exit }'
}

fetch_debian() {
    dest=$1
    command -v apt-get >/dev/null || die "no apt-get: set LXCRI_CRUN_SRC to a crun source tarball or tree"
    python3 "$here/ensure-deb-src.py" || die "cannot configure a deb-src entry"
    rm -rf "$out/dl"
    mkdir -p "$out/dl"
    getsrc() { ( cd "$out/dl" && apt-get source --download-only crun >/dev/null 2>"$out/dl/apt.log" ); }
    if ! getsrc; then
        apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null 2>&1 || true
        getsrc || true
    fi
    dsc=$(ls "$out"/dl/crun_*.dsc 2>/dev/null | head -n 1)
    if [ -n "$dsc" ] && dpkg-source --no-check -x "$dsc" "$dest" >"$out/dl/dpkg-source.log" 2>&1; then
        # apt-get verified the files against the signed Sources index already.
        for f in "$out"/dl/crun_*; do rm -f "$out/$(basename "$f")"; done  # dpkg-source's copies
        say "unpacked $(basename "$dsc") with Debian's patches"
        return
    fi
    rm -rf "$dest"
    orig=$(ls "$out"/dl/crun_*.orig.tar.* 2>/dev/null | grep -v '\.asc$' | head -n 1)
    [ -n "$orig" ] || die "apt-get source crun failed and no orig tarball arrived (see $out/dl/apt.log); set LXCRI_CRUN_SRC instead"
    want=$(apt_sha256 "$(basename "$orig")")
    [ -n "$want" ] && [ "$(sha256sum "$orig" | cut -d' ' -f1)" = "$want" ] ||
        die "$(basename "$orig") does not match the Sources index (see $out/dl/apt.log); set LXCRI_CRUN_SRC instead"
    say "Debian's source package is not fully downloadable here (see $out/dl/apt.log): building the upstream $(basename "$orig") from the same pool, without Debian's patches"
    mkdir -p "$dest"
    tar -xf "$orig" -C "$dest" --strip-components=1
}

fetch() {
    new="$out/src.new"
    rm -rf "$new"
    mkdir -p "$out"
    if [ -n "${LXCRI_CRUN_SRC:-}" ]; then
        given=$(realpath -m "$LXCRI_CRUN_SRC")
        case "$given/" in
            "$src"/*|"$new"/*) die "LXCRI_CRUN_SRC=$LXCRI_CRUN_SRC lies inside $src, which the build replaces: put it elsewhere" ;;
        esac
        if [ -d "$given" ]; then
            say "using crun tree $LXCRI_CRUN_SRC (copied, built out of place)"
            cp -a "$given" "$new"
            rm -f "$new/$unpacked" "$new/$configured" "$new/config.status"
        elif [ -f "$given" ]; then
            say "using crun tarball $LXCRI_CRUN_SRC"
            mkdir -p "$new"
            tar -xf "$given" -C "$new" --strip-components=1
        else
            die "LXCRI_CRUN_SRC=$LXCRI_CRUN_SRC is neither a file nor a directory"
        fi
    else
        fetch_debian "$new"
    fi
    [ -f "$new/configure" ] || die "$new has no configure script: not a crun release tree"
    origin >"$new/$unpacked"
    rm -rf "$src"
    mv "$new" "$src"
}

# libcrun re-executes the process that loads it (a constructor in linux.c, the
# CVE-2019-5736 guard). For lxcri that process is the host's Python, and a
# re-exec on import is unacceptable; lxcri applies the same guard itself, only
# for operations that start a process in a container (lxcri/sealed.py). Here the
# constructor attribute is dropped; the build fails if the code looks different
# from what this edit expects, so a newer crun cannot silently keep it.
disarm_reexec() {
    f="$src/src/libcrun/linux.c"
    if grep -q 'lxcri: constructor removed' "$f"; then return; fi
    if ! grep -q 'ensure_cloned_binary' "$f"; then
        say "no re-exec constructor in this crun; nothing to disarm"
        return
    fi
    perl -0pi -e 's/__attribute__\s*\(\(\s*constructor\s*\)\)\s*(static\s+void\s+libcrun_rexec)/\/* lxcri: constructor removed *\/ __attribute__ ((unused)) $1/' "$f"
    grep -q 'lxcri: constructor removed' "$f" ||
        die "could not disarm libcrun's re-exec constructor in $f: this crun version needs build-libcrun.sh updated"
    say "disarmed libcrun's load-time re-exec (lxcri seals the interpreter itself)"
}

# mend FILE MARK EXPR DONE LEFT: edit FILE (under src/libcrun) with the perl
# substitution EXPR, which writes the comment MARK into it; once only (MARK found: done
# before). Says DONE when the edit took, LEFT when the tree lacks the code it expects.
mend() {
    f="$src/src/libcrun/$1"
    if grep -q "$2" "$f"; then return; fi
    perl -0pi -e "$3" "$f"
    if grep -q "$2" "$f"; then say "$4"; else say "$5"; fi
}

# A hook is handed the container's state on its stdin and may exit without reading
# it. Older crun (Debian 12 ships 1.8.1; upstream changed it in 2024, crun PR 1553)
# then fails the hook on the write's EPIPE, racily for a small state and always once
# the state outgrows the pipe, and never looks at the hook's exit status. Where the
# tree has that write, its EPIPE is let through to the wait for the hook. A tree
# without it is left alone (tests/integration/test_hard_limits.py tells either way).
mend_hook_stdin() {
    mend utils.c 'lxcri: a hook may leave its stdin unread' \
        's/(ret = TEMP_FAILURE_RETRY \(write \(pipe_w, stdin, stdin_len\)\);\s*if \(UNLIKELY \(ret < 0)(\)\))(\s*\{\s*ret = crun_make_error \(err, errno, "writing to pipe"\))/$1 \&\& errno != EPIPE$2 \/* lxcri: a hook may leave its stdin unread *\/$3/' \
        "a hook that exits without reading its stdin is judged by its exit status" \
        "this crun does not fail a hook on an unread stdin the way 1.8 does; left as it is"
}

# On cgroup v1 (no cgroup.kill) libcrun kills what is left in a cgroup by freezing it,
# signalling every pid it lists and thawing it, and its cgroupfs manager does that
# before every cgroup it removes: the delete of every container, also of one whose
# processes are all gone. Freezing and thawing a cgroup costs 0.28 ms here (the
# kernel patches its code for the freezer's first frozen cgroup, on every CPU). An
# empty cgroup needs neither: nothing in it can fork, so the pids are listed first
# and, with none there, nothing more is done. A tree without that code is left alone
# (tests/integration/test_cgroup_kill.py tells).
mend_killall_empty() {
    mend cgroup-utils.c 'lxcri: an empty cgroup is not frozen' \
        's/(\n([ \t]*)ret = libcrun_cgroup_pause_unpause_path \(path, true, err\);)/\n$2\/* lxcri: an empty cgroup is not frozen *\/\n$2ret = libcrun_cgroup_read_pids_from_path (path, true, &pids, err);\n$2if (ret < 0 && crun_error_get_errno (err) == ENOENT)\n$2  {\n$2    crun_error_release (err);\n$2    return 0;\n$2  }\n$2if (UNLIKELY (ret < 0))\n$2  return ret;\n$2if (pids == NULL || pids[0] == 0)\n$2  return 0;\n$2free (pids);\n$2pids = NULL;\n$1/' \
        "a cgroup with no processes left is removed without a freeze" \
        "this crun kills a cgroup's processes differently; left as it is"
}

# What has to exist before libcrun's own sources compile, from the tree's Makefile:
# automake's BUILT_SOURCES (e.g. git-version.h, which container.c includes in 1.21:
# `make libcrun.la` alone does not make them), and the libraries libcrun.la links
# (libocispec, whose build regenerates headers that libcrun includes: made in parallel
# with libcrun's objects, a compile can read a half-written header).
make_var() {
    printf 'lxcri-print:\n\t@echo $(%s)\n' "$1" | make -s -f Makefile -f - lxcri-print
}

rm -f "$built"
if [ ! -f "$src/$unpacked" ] || { [ -n "${LXCRI_CRUN_SRC:-}" ] && [ "$(cat "$src/$unpacked")" != "$(origin)" ]; }; then
    fetch
fi
disarm_reexec
mend_hook_stdin
mend_killall_empty
cd "$src"
if [ ! -f "$configured" ]; then
    say "configuring libcrun (shared, no CRIU)"
    ./configure --enable-shared --disable-criu >"$out/configure.log" 2>&1 || {
        rm -f config.status
        die "configure failed, see $out/configure.log (missing -dev packages?)"
    }
    touch "$configured"
fi
say "building libcrun"
gen=$(make_var BUILT_SOURCES) || die "cannot read BUILT_SOURCES from $src/Makefile"
: >"$out/make.log"
if [ -n "$gen" ]; then
    # shellcheck disable=SC2086 # a list of make targets
    make $gen >>"$out/make.log" 2>&1 || die "make $gen failed, see $out/make.log"
fi
if grep -q 'git-version\.h' Makefile && [ ! -f git-version.h ]; then
    # Neither crun's tarball copy nor a .git to ask: the commit is unknown.
    printf '#ifndef GIT_VERSION\n# define GIT_VERSION "unknown"\n#endif\n' >git-version.h
    say "no git commit known for this tree: git-version.h says \"unknown\""
fi
deps=$(make_var libcrun_la_LIBADD | tr ' ' '\n' | grep '\.la$' || true)
for la in $deps; do
    make -j"$(nproc)" "$la" >>"$out/make.log" 2>&1 || die "make $la failed, see $out/make.log"
done
make -j"$(nproc)" libcrun.la >>"$out/make.log" 2>&1 || die "make libcrun.la failed, see $out/make.log"
test -f .libs/libcrun.so.0 || die "no .libs/libcrun.so.0 after the build"
version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"/\1/p' config.h)
echo "$version" >"$built"
say "libcrun $version built in $src"
