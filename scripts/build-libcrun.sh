#!/bin/sh
# Fetch crun's source and build libcrun (shared library only) under $1 (build/crun).
#
# Source, first match wins: $LXCRI_CRUN_SRC (a tarball or an unpacked tree), else
# Debian's `crun` source package through apt-get source (a deb-src entry is added
# when none is configured). The tree is a build input: it lives under build/ and
# is never committed.
set -eu
out=$(realpath -m "${1:?usage: build-libcrun.sh OUTDIR}")
here=$(dirname "$(realpath "$0")")
src="$out/src"

say() { echo "lxcri-build: $*"; }
die() { echo "lxcri-build: error: $*" >&2; exit 1; }

fetch() {
    rm -rf "$src" "$out/dl"
    mkdir -p "$out/dl"
    if [ -n "${LXCRI_CRUN_SRC:-}" ]; then
        if [ -d "$LXCRI_CRUN_SRC" ]; then
            say "using crun tree $LXCRI_CRUN_SRC (copied, built out of place)"
            cp -a "$LXCRI_CRUN_SRC" "$src"
        elif [ -f "$LXCRI_CRUN_SRC" ]; then
            say "using crun tarball $LXCRI_CRUN_SRC"
            mkdir -p "$src"
            tar -xf "$LXCRI_CRUN_SRC" -C "$src" --strip-components=1
        else
            die "LXCRI_CRUN_SRC=$LXCRI_CRUN_SRC is neither a file nor a directory"
        fi
        return
    fi
    command -v apt-get >/dev/null || die "no apt-get: set LXCRI_CRUN_SRC to a crun source tarball or tree"
    python3 "$here/ensure-deb-src.py" || die "cannot configure a deb-src entry"
    ( cd "$out/dl" && apt-get source --download-only crun >/dev/null 2>"$out/dl/apt.log" ) || {
        apt-get update -q >/dev/null 2>&1 || true
        ( cd "$out/dl" && apt-get source --download-only crun >/dev/null 2>"$out/dl/apt.log" ) ||
            die "apt-get source crun failed (see $out/dl/apt.log); set LXCRI_CRUN_SRC instead"
    }
    dsc=$(ls "$out"/dl/crun_*.dsc | head -n 1)
    say "unpacking $(basename "$dsc") with Debian's patches"
    # apt-get verified the files against the signed Sources index already.
    dpkg-source --no-check -x "$dsc" "$src" >/dev/null
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

[ -f "$src/configure" ] || fetch
[ -f "$src/configure" ] || die "$src has no configure script: not a crun release tree"
disarm_reexec
cd "$src"
if [ ! -f config.status ]; then
    say "configuring libcrun (shared, no CRIU)"
    ./configure --enable-shared --disable-criu >"$out/configure.log" 2>&1 ||
        die "configure failed, see $out/configure.log (missing -dev packages?)"
fi
say "building libcrun"
make -j"$(nproc)" libcrun.la >"$out/make.log" 2>&1 || die "make libcrun.la failed, see $out/make.log"
test -f .libs/libcrun.so.0 || die "no .libs/libcrun.so.0 after the build"
say "libcrun $(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"/\1/p' config.h) built in $src"
