#!/bin/sh
# Make a hybrid cgroup host usable by libcrun, only when needed, saying what it did.
#
# libcrun refuses hybrid hosts (v1 hierarchies plus cgroup2 at .../unified) when
# any controller is enabled on the v2 side: "cgroups in hybrid mode not supported,
# drop all controllers from cgroupv2". Mounting such a controller as its own v1
# hierarchy moves it off v2. Pure v2 hosts (Proxmox VE 7+) and pure v1 hosts are
# left alone.
set -eu
unified=/sys/fs/cgroup/unified/cgroup.controllers
[ -f "$unified" ] || exit 0
controllers=$(cat "$unified")
[ -n "$controllers" ] || exit 0
for c in $controllers; do
    mkdir -p "/sys/fs/cgroup/$c"
    if mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c"; then
        echo "lxcri: hybrid cgroups: moved the '$c' controller off cgroup v2 (mounted as v1 at /sys/fs/cgroup/$c) so libcrun accepts this host"
    else
        echo "lxcri: hybrid cgroups: could not move '$c' off cgroup v2; containers will fail with 'cgroups in hybrid mode not supported'" >&2
        exit 1
    fi
done
