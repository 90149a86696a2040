"""The liblxc driver's hook scripts that are not part of the config mapping.

START_HOST_HOOK is the `lxc.hook.start-host` script create writes to
<lxcpath>/<id>/lxcri.hook-start-host: liblxc runs it on the host once the
container's init exists, before the user's process is executed. It reports the
init's pid (and its own) through the lxcri.ready fifo, which the monitor's
wait_ready reads, then blocks on the lxcri.start fifo until `lxcri start` writes
a line: that is OCI's "created" state. (The mount hook's lines are pure config
mapping: mapping.MOUNT_HOOK_HEAD.)
"""
from __future__ import annotations

import os

START_HOST_HOOK = """#!/bin/sh
# lxcri: liblxc runs this on the host once the container's init exists and before
# it executes the user's process: report the init's pid to `lxcri create`, then
# hold the container in OCI's "created" state until `lxcri start` writes a line.
d=@DIR@
exec 3<>"$d/lxcri.start" || exit 1
exec 4<>"$d/lxcri.ready" || exit 1
echo "$LXC_PID $$" >&4
exec 4>&-
read -r _ <&3 || exit 1
exit 0
"""


def write_start_host(path: str, directory: str) -> None:
    """Write START_HOST_HOOK for the container whose files are in `directory` to path."""
    quoted = "'" + directory.replace("'", "'\"'\"'") + "'"
    with open(path, "w") as f:
        f.write(START_HOST_HOOK.replace("@DIR@", quoted))
    os.chmod(path, 0o700)
