#!/usr/bin/env python3
"""Build an OCI bundle with a busybox rootfs: make-bundle.py DIR [--hostname H] [-- ARGS...]

The rootfs holds the host's static busybox (Debian's busybox-static) and a link per
applet; config.json is libcrun's default spec (through lxcri) with the given
process args, no terminal, and the hostname. Run it with the lxcri virtualenv's
python. An existing bundle is rebuilt.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

from lxcri.runtime import default_spec


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--hostname", default="lxcri")
    ap.add_argument("--busybox", default="/bin/busybox")
    # The container's argv follows `--`; argparse mishandles `--` after positionals.
    argv = sys.argv[1:]
    cut = argv.index("--") if "--" in argv else len(argv)
    ns = ap.parse_args(argv[:cut])
    ns.args = argv[cut + 1:] or ["sh"]
    if not os.path.isfile(ns.busybox):
        print(f"make-bundle: {ns.busybox} not found: apt-get install busybox-static", file=sys.stderr)
        return 1
    rootfs = os.path.join(ns.dir, "rootfs")
    shutil.rmtree(rootfs, ignore_errors=True)
    for sub in ("bin", "proc", "sys", "dev", "tmp", "etc", "root"):
        os.makedirs(os.path.join(rootfs, sub), exist_ok=True)
    shutil.copy2(ns.busybox, os.path.join(rootfs, "bin", "busybox"))
    applets = subprocess.run([ns.busybox, "--list"], capture_output=True, text=True, check=True)
    for name in applets.stdout.split():
        if name != "busybox":
            os.symlink("busybox", os.path.join(rootfs, "bin", name))
    with open(os.path.join(rootfs, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    with open(os.path.join(rootfs, "etc", "group"), "w") as f:
        f.write("root:x:0:\nnogroup:x:65534:\n")
    spec = default_spec()
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ns.args
    spec["hostname"] = ns.hostname
    with open(os.path.join(ns.dir, "config.json"), "w") as f:
        json.dump(spec, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
