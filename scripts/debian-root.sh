#!/bin/sh
# Make a minimal Debian root of SUITE at DIR (debootstrap --variant=minbase), from a
# tarball cached beside DIR so that later runs only unpack it. The root gets the
# host's apt mirror, DNS, and pip configuration with the CA bundle it names (PyPI may
# only be reachable through a TLS proxy that this bundle trusts), so apt and pip
# work inside it. Idempotent: a DIR already made is left as it is; a failed or
# interrupted run leaves nothing that a later run would take for done.
#
#   debian-root.sh SUITE DIR [PACKAGE...]    extra packages are apt-get installed inside
set -eu
suite=${1:?usage: debian-root.sh SUITE DIR [PACKAGE...]}
dir=$(realpath -m "${2:?usage: debian-root.sh SUITE DIR [PACKAGE...]}")
shift 2
here=$(dirname "$(realpath "$0")")
cache="$(dirname "$dir")/$suite-minbase.tar"

say() { echo "lxcri-root: $*"; }
die() { echo "lxcri-root: error: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "making a Debian root needs root"

# The host's Debian mirror (deb822 or one-line sources), else deb.debian.org.
mirror() {
    m=$(grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
        grep -oE 'https?://[^ ]+/debian/?$' | head -n 1)
    echo "${m:-http://deb.debian.org/debian}"
}

if [ ! -f "$dir/.lxcri-root" ]; then
    if [ ! -f "$cache" ]; then
        command -v debootstrap >/dev/null || sh "$here/install-packages.sh" debootstrap
        mkdir -p "$(dirname "$cache")"
        tmp="$cache.d.$$"
        rm -rf "$cache".d.* "$cache.tmp"
        say "debootstrap --variant=minbase $suite from $(mirror) (a few minutes, once)"
        debootstrap --variant=minbase "$suite" "$tmp" "$(mirror)" >"$cache.log" 2>&1 ||
            { rm -rf "$tmp"; die "debootstrap $suite failed, see $cache.log"; }
        tar -C "$tmp" -cf "$cache.tmp" . && mv "$cache.tmp" "$cache"
        rm -rf "$tmp"
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    tar -C "$dir" -xf "$cache"
    touch "$dir/.lxcri-root"
fi

# Network set-up, refreshed on every call (the host's may have changed), and again
# after apt-get: installing ca-certificates in the root regenerates the CA bundle
# without the proxy's CA that pip needs.
network() {
    cp -L /etc/resolv.conf "$dir/etc/resolv.conf"
    for f in /etc/pip.conf /etc/xdg/pip/pip.conf; do
        [ -f "$f" ] && mkdir -p "$dir$(dirname "$f")" && cp -L "$f" "$dir$f"
    done
    # Files the pip configuration names (cert, constraint, ...) and the CA bundles the
    # environment names: pip inside the root fails without them.
    for f in "${PIP_CERT:-}" "${SSL_CERT_FILE:-}" "${REQUESTS_CA_BUNDLE:-}" \
             $(sed -n 's/^[^=#]*=[[:space:]]*\(\/[^[:space:]]*\)[[:space:]]*$/\1/p' /etc/pip.conf /etc/xdg/pip/pip.conf 2>/dev/null); do
        [ -n "$f" ] && [ -f "$f" ] && mkdir -p "$dir$(dirname "$f")" && cp -L "$f" "$dir$f"
    done
    return 0
}
network

if [ $# -gt 0 ]; then
    missing=""
    for p in "$@"; do
        chroot "$dir" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        say "installing in the $suite root:$missing"
        # shellcheck disable=SC2086 # the package list is meant to split
        sh "$here/in-root.sh" "$dir" sh -c "export DEBIAN_FRONTEND=noninteractive;
            apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null" ||
            die "apt-get install$missing failed in $dir"
        network
    fi
fi
