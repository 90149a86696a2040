"""Facts about the host lxcri runs on, read from /proc and /sys in one place.

    mountinfo  /proc/self/mountinfo, parsed
"""
