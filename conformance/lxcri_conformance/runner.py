"""Running the suite: one test file against one runtime (`run_file`, the way crun's
`make check` runs it, then the clean-up after it), every file against every runtime
(`run_all`), and the clean-up of the file interrupted by Ctrl-C or SIGTERM.
"""
from __future__ import annotations

import argparse
import os
import select
import shutil
import signal
import subprocess
import time
from typing import Any

from .cleanup import (
    FREEZER_TEST_CGROUP,
    cgroup_dirs,
    cleanup_cgroups,
    hybrid_blocker,
    raise_pid_counter,
    state_dirs,
    unmount_under,
    write_file,
)
from .common import HarnessError, log
from .procs import kill_adopted, wait_test_process
from .results import Events, Record, count, first_line, judge

CURRENT: dict[str, Any] = {}  # the test file running now, for clean-up on interruption


def resolve(path: str, what: str) -> str:
    p = shutil.which(path) or (path if os.path.isfile(path) else None)
    if not p or not os.access(p, os.X_OK):
        raise HarnessError("conformance: %s runtime %r not found or not executable" % (what, path))
    return os.path.abspath(p)


def runtime_version(path: str) -> str:
    try:
        r = subprocess.run([path, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=30)
        return first_line(r.stdout)
    except Exception as e:
        return "unknown (%s)" % e


def run_file(python: str, work: str, tests: str, init: str, runtime: str, fname: str,
             timeout: float, pypath: list[str], only_tests: str,
             tty: bool) -> tuple[Events, int | None, bool, float, list[str]]:
    """Run one test file; clean up after it. Returns (events, exit, timed_out, secs, report)."""
    env = dict(os.environ)
    for k in ("RUN_TESTS", "PYTHONPATH", "PYTHONHOME"):
        env.pop(k, None)
    env.update(OCI_RUNTIME=runtime, INIT=init, TMPDIR=os.path.join(work, "tmp"),
               PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    if pypath:
        env["PYTHONPATH"] = os.pathsep.join(pypath)
    if only_tests:
        env["RUN_TESTS"] = only_tests
    report: list[str] = []
    raise_pid_counter(report)
    cg_before = cgroup_dirs()
    st_before = state_dirs()
    started = time.monotonic()
    # stdout (TAP) and stderr (diagnostics) apart, as under tap-driver; read both as
    # they come so each test's diagnostics can be told apart.
    if tty:
        out_r, out_w = os.openpty()
        stdin: int = out_w
    else:
        out_r, out_w = os.pipe()
        stdin = subprocess.DEVNULL
    err_r, err_w = os.pipe()
    proc = subprocess.Popen([python, os.path.join("tests", fname)], cwd=work, env=env,
                            stdin=stdin, stdout=out_w, stderr=err_w, start_new_session=True)
    CURRENT.update(proc=proc, before=cg_before, delete_test=fname == "test_delete.py")
    os.close(out_w)
    os.close(err_w)
    fds = {out_r: "out", err_r: "err"}
    for fd in fds:
        os.set_blocking(fd, False)
    events: Events = []
    deadline = started + timeout
    rc = None
    while rc is None and time.monotonic() < deadline:
        _drain(fds, events, 0.05)
        rc = wait_test_process(proc, 0)
    timed_out = rc is None
    if timed_out:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        rc = wait_test_process(proc, time.monotonic() + 10)
    _drain(fds, events, 0)
    for fd in list(fds):
        os.close(fd)
    duration = time.monotonic() - started

    delete_test = fname == "test_delete.py"
    if delete_test and os.path.isdir(FREEZER_TEST_CGROUP):   # frozen processes cannot die
        write_file(os.path.join(FREEZER_TEST_CGROUP, "freezer.state"), "THAWED")
    kill_adopted(report)
    cleanup_cgroups(cg_before, report, proc.pid, delete_test)
    for d in os.listdir(work):
        if d.startswith(".testsuite-run-"):
            p = os.path.join(work, d)
            unmount_under(p, report)
            shutil.rmtree(p, ignore_errors=True)
            report.append("removed leftover state directory %s" % d)
    tmp = os.path.join(work, "tmp")
    unmount_under(tmp, report)
    for d in os.listdir(tmp):
        shutil.rmtree(os.path.join(tmp, d), ignore_errors=True)
    st_after = state_dirs()
    for d in st_after:
        added = st_after[d] - st_before[d]
        if added:
            report.append("NOTE: default state root %s gained %s meanwhile (the suite always "
                          "passes --root: another user of this host?; left untouched)"
                          % (d, sorted(added)))
    return events, rc, timed_out, duration, report


def _drain(fds: dict[int, str], events: Events, wait: float) -> None:
    """Append whatever the test wrote (without blocking longer than `wait`)."""
    if not fds:
        time.sleep(wait)
        return
    try:
        ready, _, _ = select.select(list(fds), [], [], wait)
    except InterruptedError:
        return
    # diagnostics go to stderr before the result line goes to stdout: read stderr first
    for fd in sorted(ready, key=lambda fd: fds[fd] != "err"):
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                break
            except OSError:          # EIO: a pty nobody holds open any more
                data = b""
            if not data:             # end of file: stop watching it
                events.append((fds.pop(fd), ""))
                os.close(fd)
                break
            events.append((fds[fd], data.decode(errors="replace")))


def run_all(args: argparse.Namespace, runtimes: list[tuple[str, str]], files: list[str],
            declared: dict[str, list[str]], work: str, tests: str, init: str, pypath: list[str],
            results: dict[str, Any], blocked: list[str], global_deadline: float) -> None:
    """Every file against every runtime, in that order; records go into results."""
    for name, path in runtimes:
        log("running %d files against %s (%s)" % (len(files), name, path))
        for fname in files:
            left = global_deadline - time.monotonic()
            if left <= 5:
                rec: Record = {"exit": None, "timed_out": True, "plan": None, "errors":
                       ["not run: global timeout (%ds) reached" % args.timeout],
                       "file_skipped": False, "duration": 0, "cleanup": [],
                       "tests": [{"n": None, "name": n, "result": "ERROR",
                                  "log": "not run: global timeout"} for n in declared[fname]]}
                results["runtimes"][name]["files"][fname] = rec
                continue
            blocked_now = hybrid_blocker()
            if blocked_now and not blocked:
                w = "cgroup v2 controllers %s appeared on this hybrid host before %s/%s: " \
                    "libcrun-based runtimes cannot start containers from here on" \
                    % (blocked_now, name, fname)
                log("warning: " + w)
                results["host"]["warnings"].append(w)
                blocked = blocked_now
            timeout = min(args.file_timeout, left)
            events, rc, timed_out, duration, report = run_file(
                args.python, work, tests, init, path, fname, timeout, pypath,
                args.tests, args.tty)
            rec = judge(fname, events, rc, timed_out, declared[fname])
            rec["duration"] = round(duration, 1)
            rec["cleanup"] = report
            results["runtimes"][name]["files"][fname] = rec
            c = count(rec)
            log("  %-28s %3d pass %3d fail %3d skip  %5.1fs%s" % (
                fname, c["pass"], c["fail"], c["skip"], duration,
                ("  [" + "; ".join(rec["errors"]) + "]") if rec["errors"] else ""))
            for line in report:
                log("    cleanup: " + line)


def abort_current(work: str) -> None:
    """After Ctrl-C or SIGTERM: kill the running file and clean up after it."""
    report: list[str] = []
    proc = CURRENT.get("proc")
    if proc is not None and proc.returncode is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        wait_test_process(proc, time.monotonic() + 10)
    if CURRENT.get("delete_test") and os.path.isdir(FREEZER_TEST_CGROUP):
        write_file(os.path.join(FREEZER_TEST_CGROUP, "freezer.state"), "THAWED")
    kill_adopted(report)
    if "before" in CURRENT:
        cleanup_cgroups(CURRENT["before"], report, CURRENT["proc"].pid, CURRENT["delete_test"])
    unmount_under(work, report)
    for line in report:
        log("  cleanup: " + line)
