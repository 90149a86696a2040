#!/usr/bin/env python3
"""Run crun's own Python test-suite against lxcri and against crun, side by side.

The suite is a build input, never part of this repository: it is read from the
crun source tree that `make libcrun` unpacks (env LXCRI_CRUN_TREE, default
build/crun/src), copied to a temporary directory and run there, the way crun's
`make check` runs it: one `python3 tests/test_X.py` per file, with the build
directory as working directory, OCI_RUNTIME=<runtime> and INIT=<static init>,
its TAP output judged the way automake's tap-driver judges it.

Standard library only; must run as root (the suite skips most tests otherwise).
This process makes itself a child subreaper: containers the tests detach are
reaped here, and whatever a test file leaves behind (processes, cgroups, the
freezer cgroup test_delete.py freezes a container in, state directories, mounts
under the work directory) is removed before the next file starts.

This file is the entry point (the command line, the run's order, the exit status);
the parts are in lxcri_conformance/ beside it, one module per concern (its
__init__ lists them).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
# lxcri_conformance/ sits beside this file; found also under `python -P` or from elsewhere.
sys.path.insert(0, HERE)

from lxcri_conformance.cleanup import hybrid_blocker, unmount_under  # noqa: E402
from lxcri_conformance.common import HarnessError, log  # noqa: E402
from lxcri_conformance.procs import become_subreaper  # noqa: E402
from lxcri_conformance.report import print_report  # noqa: E402
from lxcri_conformance.runner import abort_current, resolve, run_all, runtime_version  # noqa: E402
from lxcri_conformance.suite import declared_tests, has_module, prepare, select_files, tree_version  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lxcri", default=os.path.join(REPO, ".venv", "bin", "lxcri"),
                    help="runtime under test (default: .venv/bin/lxcri)")
    ap.add_argument("--crun", default="crun", help="reference runtime (default: crun on PATH)")
    ap.add_argument("--crun-tree", default=os.environ.get("LXCRI_CRUN_TREE")
                    or os.path.join(REPO, "build", "crun", "src"),
                    help="crun source tree holding tests/ (env LXCRI_CRUN_TREE)")
    ap.add_argument("--python", default=sys.executable, help="interpreter for the test files")
    ap.add_argument("--files", default="", help="comma-separated test files to run (default all)")
    ap.add_argument("--tests", default="", help="space-separated test names (crun's RUN_TESTS)")
    ap.add_argument("--file-timeout", type=float, default=300, help="seconds per test file")
    ap.add_argument("--timeout", type=float, default=900, help="seconds for everything")
    ap.add_argument("--json", metavar="OUT", help="write raw results here")
    ap.add_argument("--require-parity", action="store_true",
                    help="exit 1 when lxcri passes fewer tests than crun")
    ap.add_argument("--no-libmount-standin", dest="libmount_standin", action="store_false",
                    help="let test_mounts.py skip itself when the python libmount module "
                         "(util-linux pylibmount, not packaged by Debian) is missing, instead "
                         "of giving it this script's minimal stand-in")
    ap.add_argument("--no-tty", dest="tty", action="store_false",
                    help="give the test files a pipe as stdout, as crun's `make check` does "
                         "(test_tty.py then skips itself); default: a pseudo-terminal")
    ap.add_argument("--upstream-strict", action="store_true",
                    help="both of the above: exactly what `make check` does on this host")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args(argv)
    if args.upstream_strict:
        args.libmount_standin = args.tty = False

    if os.geteuid() != 0:
        log("warning: not root: the suite skips or fails most tests when rootless")
    t0 = time.monotonic()
    global_deadline = t0 + args.timeout
    runtimes = [("lxcri", resolve(args.lxcri, "lxcri")), ("crun", resolve(args.crun, "crun"))]
    tree = os.path.abspath(args.crun_tree)
    subreaper = become_subreaper()
    blocked = hybrid_blocker()
    if blocked:
        log("warning: controllers %s are enabled on cgroup v2 of this hybrid host: libcrun "
            "refuses to create containers ('cgroups in hybrid mode not supported'); run "
            "`make cgroups` first" % blocked)
    work = tempfile.mkdtemp(prefix="lxcri-conformance-")
    results: dict[str, Any] = {
        "suite": {"tree": tree, "version": tree_version(tree)}, "runtimes": {}, "host": {
            "subreaper": subreaper, "hybrid_v2_controllers_at_start": blocked, "warnings": []}}
    interrupted: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        interrupted.append(signum)
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    try:
        real_libmount = has_module(args.python, "libmount", [])
        standin = args.libmount_standin and not real_libmount
        tests, init, pypath = prepare(tree, work, standin)
        files = select_files(tests, args.files)
        declared = {f: declared_tests(os.path.join(tests, f)) for f in files}
        results["suite"]["libmount_module"] = (
            "present" if real_libmount else
            "missing: conformance/run.py's minimal stand-in used" if standin else
            "missing: test_mounts.py skips itself")
        results["suite"]["stdout"] = "pseudo-terminal" if args.tty else "pipe"
        results["suite"]["files"] = files
        for name, path in runtimes:
            results["runtimes"][name] = {"path": path, "version": runtime_version(path),
                                         "files": {}}
        run_all(args, runtimes, files, declared, work, tests, init, pypath, results, blocked,
                global_deadline)
    except KeyboardInterrupt:
        log("interrupted%s; cleaning up" % (" by signal %d" % interrupted[0] if interrupted else ""))
        abort_current(work)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        return 130
    finally:
        if args.keep:
            log("work directory kept: %s" % work)
        elif os.path.isdir(work):
            unmount_under(work, [])
            shutil.rmtree(work, ignore_errors=True)

    results["elapsed"] = round(time.monotonic() - t0, 1)
    verdict = print_report(results, files)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
        log("raw results written to %s" % args.json)
    if args.require_parity and not verdict:
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except HarnessError as e:
        print(str(e), file=sys.stderr)
        sys.exit(2)
