#!/bin/sh
# Install the packages named as arguments (Debian names) that are not installed yet
# (idempotent). apt is what this project verifies; on a dnf system (Fedora, RHEL and
# rebuilds) the Debian names are mapped to Fedora's — that mapping is NOT verified by
# this project's tests and may need corrections.
set -eu

if command -v apt-get >/dev/null 2>&1; then
    missing=""
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && exit 0
    if [ "$(id -u)" != 0 ]; then
        echo "lxcri: missing Debian packages:$missing; run this as root or install them" >&2
        exit 1
    fi
    echo "lxcri: installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $missing >/dev/null
    exit 0
fi

if command -v dnf >/dev/null 2>&1; then
    # Debian name -> Fedora name ("-" when Fedora needs nothing for it). Not verified here.
    fedora_name() {
        case "$1" in
            pkg-config) echo pkgconf-pkg-config ;;
            dpkg-dev) echo - ;;                 # only for `apt-get source`: set LXCRI_CRUN_SRC
            xz-utils) echo xz ;;
            libyajl-dev) echo yajl-devel ;;
            libseccomp-dev) echo libseccomp-devel ;;
            libcap-dev) echo libcap-devel ;;
            libsystemd-dev) echo systemd-devel ;;
            libgcrypt20-dev) echo libgcrypt-devel ;;
            python3-venv) echo python3 ;;
            python3-dev) echo python3-devel ;;
            busybox-static) echo busybox ;;     # Fedora's busybox is statically linked
            lxc-dev) echo lxc-devel ;;
            libc6-dev) echo glibc-devel ;;
            qemu-system-x86) echo qemu-system-x86-core ;;
            *) echo "$1" ;;
        esac
    }
    missing=""
    for p in "$@"; do
        f=$(fedora_name "$p")
        [ "$f" = - ] && continue
        rpm -q "$f" >/dev/null 2>&1 || missing="$missing $f"
    done
    [ -z "$missing" ] && exit 0
    if [ "$(id -u)" != 0 ]; then
        echo "lxcri: missing packages:$missing; run this as root or install them" >&2
        exit 1
    fi
    echo "lxcri: installing packages with dnf (names mapped from Debian's, not verified):$missing"
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    dnf install -y -q $missing
    exit 0
fi

echo "lxcri: neither apt-get nor dnf found: install these packages (Debian names):$*" >&2
exit 1
