#!/bin/sh
# Run a command inside a Debian root made by debian-root.sh, in a private mount
# namespace: the root bound onto itself (libcrun's pivot_root needs / to be a mount
# point), /proc, /sys and /dev from the host, a fresh /run and /tmp. Every mount
# dies with the namespace, so nothing is left on the host whatever the command does.
# The root shares the host's kernel and so its cgroups.
#
#   in-root.sh DIR COMMAND [ARG...]
set -eu
dir=$(realpath "${1:?usage: in-root.sh DIR COMMAND [ARG...]}")
shift
[ $# -gt 0 ] || { echo "usage: in-root.sh DIR COMMAND [ARG...]" >&2; exit 2; }
[ -f "$dir/.lxcri-root" ] || { echo "lxcri-root: $dir is not a root made by debian-root.sh" >&2; exit 1; }
exec unshare --mount --propagation private --fork -- sh -eu -c '
    r=$1; shift
    mount --bind "$r" "$r"
    mount -t proc proc "$r/proc"
    mount --rbind /sys "$r/sys"
    mount --rbind /dev "$r/dev"
    mount -t tmpfs -o mode=755 tmpfs "$r/run"
    mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"
    exec chroot "$r" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        ${CI:+CI=$CI} ${PIP_CERT:+PIP_CERT=$PIP_CERT} ${SSL_CERT_FILE:+SSL_CERT_FILE=$SSL_CERT_FILE} \
        ${REQUESTS_CA_BUNDLE:+REQUESTS_CA_BUNDLE=$REQUESTS_CA_BUNDLE} ${PIP_INDEX_URL:+PIP_INDEX_URL=$PIP_INDEX_URL} \
        ${PIP_DEFAULT_TIMEOUT:+PIP_DEFAULT_TIMEOUT=$PIP_DEFAULT_TIMEOUT} "$@"
' in-root "$dir" "$@"
