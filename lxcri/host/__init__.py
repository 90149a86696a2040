"""Facts about the host lxcri runs on, read from /proc and /sys in one place.

    mountinfo  /proc/self/mountinfo, parsed (octal escapes undone)
    cgroups    the cgroup mode, where each controller lives, a process's cgroups,
               the pids of a Proxmox CT
    procfs     process start times, /proc/PID/cgroup, maps
    prctl      prctl(2) for a process without libcrun
    libraries  the libcrun this process loaded and what it links (for `lxcri info`)

    real       Host, what a driver is given to ask the host about processes and
               cgroups, so that its state/kill/delete logic runs in unit tests
               against a recording double (tests/doubles/host.py), as youki's
               Syscall trait does; it loads each module above on first use

Importing this package imports none of its modules (a create imports procfs,
mountinfo and cgroup_paths, not Host's byte code).
"""
