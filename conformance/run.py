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
"""

import argparse
import ast
import ctypes
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CGROUP_ROOT = "/sys/fs/cgroup"
FREEZER_TEST_CGROUP = "/sys/fs/cgroup/freezer/frozen"   # fixed name used by test_delete.py
PR_SET_CHILD_SUBREAPER = 36
LOG_CAP = 4000            # characters of per-test log kept in the JSON
CURRENT = {}              # the test file running now, for clean-up on interruption


class HarnessError(Exception):
    """The harness itself cannot run (exit status 2)."""


def log(msg):
    print("conformance: " + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- process care

def become_subreaper():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
        return True
    except Exception as e:  # pragma: no cover - only on exotic hosts
        log("warning: cannot become a child subreaper (%s); run me under `tini -s`" % e)
        return False


def reap_any():
    """Reap every exited child (orphans adopted as subreaper); return {pid: status}."""
    done = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        done[pid] = status
    return done


def adopted_children():
    """Pids whose parent is this process (orphans we adopted, still alive or zombie)."""
    me = str(os.getpid())
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[1] == me:
            out.append(int(d))
    return out


def wait_test_process(proc, deadline):
    """Wait for the test file's process while reaping adopted orphans.

    subprocess' own wait cannot be used: waitpid(-1) here reaps its status too.
    Returns (exit_status or None on timeout)."""
    while True:
        for pid, status in reap_any().items():
            if pid == proc.pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                return proc.returncode
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def kill_adopted(report):
    """SIGKILL and reap every process the finished test file left behind."""
    for _ in range(50):
        reap_any()
        pids = [p for p in adopted_children() if not _is_zombie(p)]
        if not pids:
            reap_any()
            return
        for p in pids:
            report.append("killed leftover process %d (%s)" % (p, _comm(p)))
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    report.append("could not get rid of leftover processes: %s" % adopted_children())


def _comm(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:80]
        if not cmd:
            with open("/proc/%d/comm" % pid) as f:
                cmd = "[%s]" % f.read().strip()
        return cmd
    except OSError:
        return "?"


def _is_zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        return s[s.rfind(")") + 2] == "Z"
    except OSError:
        return True


# ---------------------------------------------------------------- cgroups

def cgroup_dirs():
    found = set()
    for top, dirs, _ in os.walk(CGROUP_ROOT):
        for d in dirs:
            found.add(os.path.join(top, d))
    return found


def hybrid_blocker():
    """Controllers still on the v2 side of a hybrid host make libcrun refuse to start."""
    path = os.path.join(CGROUP_ROOT, "unified", "cgroup.controllers")
    try:
        with open(path) as f:
            return f.read().split()
    except OSError:
        return []


def _write(path, value):
    try:
        with open(path, "w") as f:
            f.write(value)
        return True
    except OSError:
        return False


def remove_cgroup(path, report):
    """Thaw, kill the members of, and rmdir one cgroup and everything under it."""
    subdirs = sorted((os.path.join(t, d) for t, ds, _ in os.walk(path) for d in ds),
                     key=lambda p: -p.count("/"))
    for p in [path] + subdirs:
        if os.path.exists(os.path.join(p, "freezer.state")):
            _write(os.path.join(p, "freezer.state"), "THAWED")
        if os.path.exists(os.path.join(p, "cgroup.freeze")):
            _write(os.path.join(p, "cgroup.freeze"), "0")
    for p in subdirs + [path]:
        for _ in range(50):
            try:
                with open(os.path.join(p, "cgroup.procs")) as f:
                    pids = [int(x) for x in f.read().split()]
            except OSError:
                pids = []
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            reap_any()
            time.sleep(0.1)
        try:
            os.rmdir(p)
        except FileNotFoundError:
            pass
        except OSError as e:
            report.append("could not remove cgroup %s: %s" % (p, e.strerror))
            return False
    return True


def suite_ids(test_pid):
    """What the suite names its containers: 'test-' + a tempfile.mkdtemp() name,
    and test_start.py's 'container-<pid of the test file>'. A runtime may put
    these inside longer cgroup names (prefixes, '.scope'), so look for them as words."""
    ids = r"test-tmp[a-z0-9_]{8}"
    if test_pid:
        ids += r"|container-%d" % test_pid
    return re.compile(r"(?:^|[^A-Za-z0-9_])(?:%s)(?:$|[^A-Za-z0-9_])" % ids)


def cleanup_cgroups(before, report, test_pid=None, delete_test=False):
    """Remove the cgroups a test file created and left: those named after the
    suite's containers, and test_delete.py's freezer cgroup. Other cgroups that
    appear meanwhile (other users of this host) are left alone."""
    names = suite_ids(test_pid)
    new = sorted(cgroup_dirs() - before, key=len)
    taken = []
    for path in new:
        if any(path.startswith(t + "/") for t in taken):
            continue
        if names.search(os.path.basename(path)) or path == FREEZER_TEST_CGROUP:
            taken.append(path)
    if delete_test and os.path.isdir(FREEZER_TEST_CGROUP) and FREEZER_TEST_CGROUP not in taken:
        taken.append(FREEZER_TEST_CGROUP)   # left by an earlier, interrupted run
    # thaw first: a frozen container cannot die, and its cgroups elsewhere stay busy
    if FREEZER_TEST_CGROUP in taken:
        if remove_cgroup(FREEZER_TEST_CGROUP, report):
            report.append("removed leftover cgroup %s" % FREEZER_TEST_CGROUP)
    removed = {}
    for path in taken:
        if path != FREEZER_TEST_CGROUP and remove_cgroup(path, report):
            rel = os.path.relpath(path, CGROUP_ROOT).split("/", 1)
            removed.setdefault(rel[-1], []).append(rel[0] if len(rel) > 1 else "")
    for rel, hier in sorted(removed.items()):
        report.append("removed leftover cgroup %s (in %d hierarchies: %s)"
                      % (rel, len(hier), ",".join(sorted(hier))))


def raise_pid_counter(report):
    """test_exec.py's exec_write_pid_file wants a pid of at least 5 digits; on a host
    with pid_max 32768 whose pids wrapped, move the counter past 9999 (ns_last_pid,
    as CRIU does) so that test is not judged by the luck of pid numbering."""
    try:
        with open("/proc/sys/kernel/ns_last_pid") as f:
            last = int(f.read())
        with open("/proc/sys/kernel/pid_max") as f:
            pid_max = int(f.read())
        if last < 10000 and pid_max > 20000:
            with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                f.write("10000")
            report.append("pid counter was at %d; moved to 10000" % last)
    except (OSError, ValueError):
        pass


# ---------------------------------------------------------------- mounts, state

def mount_points():
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            out.append(line.split()[4].replace("\\040", " "))
    return out


def unmount_under(path, report):
    libc = ctypes.CDLL(None, use_errno=True)
    for mp in sorted((m for m in mount_points() if m == path or m.startswith(path + "/")),
                     key=len, reverse=True):
        if libc.umount2(mp.encode(), 2) != 0:   # MNT_DETACH
            report.append("could not unmount %s: %s" % (mp, os.strerror(ctypes.get_errno())))
        else:
            report.append("unmounted leftover %s" % mp)


def state_dirs():
    """Default state roots of the two runtimes: the suite always passes --root, so
    these must not change; a change is reported, never cleaned."""
    out = {}
    for d in ("/run/crun", "/run/lxcri"):
        try:
            out[d] = set(os.listdir(d))
        except OSError:
            out[d] = set()
    return out


# ---------------------------------------------------------------- TAP

# automake's tap-driver.sh: a directive is '#' then TODO/SKIP, at the end of the
# line or followed by a non-word character; case-insensitive.
_DIRECTIVE = re.compile(r"[ \t]*#[ \t]*(todo|skip)(?:[^a-zA-Z0-9_].*)?$", re.I)
_RESULT = re.compile(r"^(not )?ok(?![^ \t])[ \t]*([0-9]+)?[ \t]*(?:- )?(.*)$")
_PLAN = re.compile(r"^1\.\.([0-9]+)")


def parse_tap(events):
    """Return (plan or None, [ {n, name, result, log} ], trailing log lines).

    events: (stream, text) chunks in arrival order. Like tap-driver only stdout is
    TAP; a test's 'log' is what it wrote on stdout (non-TAP lines) or stderr since
    the previous result. result: PASS, FAIL, SKIP, XFAIL or XPASS, as tap-driver
    would say."""
    plan = None
    results = []
    pending = []
    partial = ""

    def line_out(line):
        nonlocal plan
        line = line.rstrip("\r")
        m = _PLAN.match(line)
        if m and plan is None and not results:
            plan = int(m.group(1))
            return
        m = _RESULT.match(line)
        if not m:
            if line.strip():
                pending.append(line)
            return
        ok = m.group(1) is None
        desc = m.group(3).strip()
        directive = ""
        d = _DIRECTIVE.search(desc)
        if d:
            directive = d.group(1).upper()
            desc = desc[:d.start()].strip()
        if directive == "SKIP":
            result = "SKIP" if ok else "FAIL"
        elif directive == "TODO":
            result = "XPASS" if ok else "XFAIL"
        else:
            result = "PASS" if ok else "FAIL"
        n = int(m.group(2)) if m.group(2) else len(results) + 1
        results.append({"n": n, "name": desc, "result": result,
                        "log": "\n".join(x.rstrip("\n") for x in pending)})
        pending.clear()

    for stream, text in events:
        if stream == "err":
            pending.append(text)
            continue
        partial += text
        *lines, partial = partial.split("\n")
        for line in lines:
            line_out(line)
    if partial:
        line_out(partial)
    return plan, results, pending


def declared_tests(path):
    """Names in the file's `all_tests = {...}` dict (to account for tests that never ran)."""
    try:
        tree = ast.parse(open(path).read(), path)
    except (OSError, SyntaxError):
        return []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict) and \
                any(isinstance(t, ast.Name) and t.id == "all_tests" for t in node.targets):
            return [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
    return []


# ---------------------------------------------------------------- suite set-up

LIBMOUNT_STANDIN = '''\
"""Stand-in for util-linux's Python binding (pylibmount), which Debian does not
package: only what crun's test_mounts.py uses. Written by lxcri's conformance/run.py
when asked with --libmount-standin."""

class _Fs:
    def __init__(self, target, vfs_options, fs_options):
        self.target, self.vfs_options, self.fs_options = target, vfs_options, fs_options

def _unescape(s):
    import re
    return re.sub(r"\\\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)

class Table:
    def __init__(self, path):
        self._fs = []
        with open(path) as f:
            for line in f:
                pre, sep, post = line.rstrip("\\n").partition(" - ")
                if not sep:
                    continue
                a, b = pre.split(), post.split()
                self._fs.append(_Fs(_unescape(a[4]), a[5], b[2] if len(b) > 2 else ""))

    def find_target(self, target):
        for fs in reversed(self._fs):   # libmount searches backward: the top mount
            if fs.target == target:
                return fs
        return None
'''


def prepare(tree, work, libmount_standin):
    src = os.path.join(tree, "tests")
    if not os.path.isfile(os.path.join(src, "tests_utils.py")):
        raise HarnessError("conformance: no crun test-suite at %s (set LXCRI_CRUN_TREE or run "
                         "`make libcrun`)" % src)
    tests = os.path.join(work, "tests")
    shutil.copytree(src, tests, ignore=shutil.ignore_patterns(
        ".deps", "*.o", "*.trs", "*.log", "__pycache__", ".testsuite-run-*", "init"))
    # init.c includes <config.h>; crun's build compiles it with the configured tree's.
    inc = os.path.join(work, "include")
    os.makedirs(inc)
    cfg = os.path.join(tree, "config.h")
    if os.path.isfile(cfg):
        shutil.copy(cfg, inc)
    else:
        log("warning: %s missing (tree not configured); building init without it" % cfg)
        open(os.path.join(inc, "config.h"), "w").close()
    init = os.path.join(tests, "init")
    cc = os.environ.get("CC", "gcc")
    cmd = [cc, "-static", "-O2", "-I", inc, "-o", init, os.path.join(tests, "init.c")]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        hint = ""
        if "cannot find -lc" in r.stdout or "libc.a" in r.stdout:
            hint = " (no static glibc: install libc6-dev, which ships libc.a)"
        elif "seccomp.h" in r.stdout:
            hint = " (config.h says HAVE_SECCOMP: install libseccomp-dev)"
        raise HarnessError("conformance: building the suite's static init failed%s:\n$ %s\n%s"
                         % (hint, " ".join(cmd), r.stdout))
    pypath = []
    if libmount_standin:
        d = os.path.join(work, "standin")
        os.makedirs(d)
        with open(os.path.join(d, "libmount.py"), "w") as f:
            f.write(LIBMOUNT_STANDIN)
        pypath.append(d)
    os.makedirs(os.path.join(work, "tmp"))
    return tests, init, pypath


def tree_version(tree):
    try:
        with open(os.path.join(tree, "config.h")) as f:
            m = re.search(r'#define PACKAGE_VERSION "([^"]+)"', f.read())
        return m.group(1) if m else "?"
    except OSError:
        return "?"


def has_module(python, name, pypath):
    env = dict(os.environ)
    if pypath:
        env["PYTHONPATH"] = os.pathsep.join(pypath)
    return subprocess.run([python, "-c", "import " + name], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


# ---------------------------------------------------------------- running

def run_file(python, work, tests, init, runtime, fname, timeout, pypath, only_tests, tty):
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
    report = []
    raise_pid_counter(report)
    cg_before = cgroup_dirs()
    st_before = state_dirs()
    started = time.monotonic()
    # stdout (TAP) and stderr (diagnostics) apart, as under tap-driver; read both as
    # they come so each test's diagnostics can be told apart.
    if tty:
        out_r, out_w = os.openpty()
        stdin = out_w
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
    events = []
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
        _write(os.path.join(FREEZER_TEST_CGROUP, "freezer.state"), "THAWED")
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
            report.append("NOTE: default state root %s gained %s meanwhile (the suite always passes --root: another user of this host?; "
                          "left untouched)" % (d, sorted(added)))
    return events, rc, timed_out, duration, report


def _drain(fds, events, wait):
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


def judge(fname, events, rc, timed_out, declared):
    """Turn one file's output into per-test results, the way tap-driver would."""
    plan, results, trailing = parse_tap(events)
    rec = {"exit": rc, "timed_out": timed_out, "plan": plan, "tests": results,
           "errors": [], "file_skipped": False}
    if plan == 0 and not results:
        rec["file_skipped"] = True
        rec["skip_reason"] = "the file printed the plan 1..0 (skips itself)"
        if fname == "test_mounts.py":
            rec["skip_reason"] = "python module 'libmount' (util-linux pylibmount) missing; " \
                                 "Debian does not package it"
        rec["tests"] = [{"n": i + 1, "name": n, "result": "SKIP", "log": rec["skip_reason"]}
                        for i, n in enumerate(declared)]
        return rec
    if timed_out:
        rec["errors"].append("timed out")
    elif rc != 0:
        rec["errors"].append("exit status %s" % rc)
    if plan is None:
        rec["errors"].append("no TAP plan printed")
    seen = {t["name"] for t in results}
    expected = plan if plan is not None else len(declared)
    if len(results) < expected or (plan is None and len(results) < len(declared)):
        missing = [n for n in declared if n not in seen] or \
                  ["#%d" % i for i in range(len(results) + 1, expected + 1)]
        why = "; ".join(rec["errors"]) or "plan not completed"
        tail = "\n".join(trailing)[-LOG_CAP:]
        for n in missing:
            results.append({"n": None, "name": n, "result": "ERROR",
                            "log": "never reported (%s)\n%s" % (why, tail)})
        rec["errors"].append("%d test(s) never reported" % len(missing))
    for t in results:
        t["log"] = t["log"][-LOG_CAP:]
    return rec


def count(rec):
    c = {"pass": 0, "fail": 0, "skip": 0}
    for t in rec["tests"]:
        r = t["result"]
        if r == "PASS":
            c["pass"] += 1
        elif r in ("SKIP", "XFAIL"):
            c["skip"] += 1
        else:       # FAIL, XPASS, ERROR
            c["fail"] += 1
    return c


def first_line(s):
    for line in s.splitlines():
        line = line.strip()
        if line:
            return line
    return "(no output)"


def runtime_version(path):
    try:
        r = subprocess.run([path, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=30)
        return first_line(r.stdout)
    except Exception as e:
        return "unknown (%s)" % e


# ---------------------------------------------------------------- main

def resolve(path, what):
    p = shutil.which(path) or (path if os.path.isfile(path) else None)
    if not p or not os.access(p, os.X_OK):
        raise HarnessError("conformance: %s runtime %r not found or not executable" % (what, path))
    return os.path.abspath(p)


def main(argv=None):
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
    results = {"suite": {"tree": tree, "version": tree_version(tree)}, "runtimes": {}, "host": {
        "subreaper": subreaper, "hybrid_v2_controllers_at_start": blocked, "warnings": []}}
    interrupted = []

    def on_signal(signum, _frame):
        interrupted.append(signum)
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    try:
        real_libmount = has_module(args.python, "libmount", [])
        standin = args.libmount_standin and not real_libmount
        tests, init, pypath = prepare(tree, work, standin)
        files = sorted(f for f in os.listdir(tests) if f.startswith("test_") and f.endswith(".py"))
        if args.files:
            wanted = [f.strip() for f in args.files.split(",") if f.strip()]
            unknown = [f for f in wanted if f not in files]
            if unknown:
                raise HarnessError("conformance: no such test file(s): %s" % ", ".join(unknown))
            files = [f for f in files if f in wanted]
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
        for name, path in runtimes:
            log("running %d files against %s (%s)" % (len(files), name, path))
            for fname in files:
                left = global_deadline - time.monotonic()
                if left <= 5:
                    rec = {"exit": None, "timed_out": True, "plan": None, "errors":
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
    except KeyboardInterrupt:
        log("interrupted%s; cleaning up" % (" by signal %d" % interrupted[0] if interrupted else ""))
        report = []
        proc = CURRENT.get("proc")
        if proc is not None and proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            wait_test_process(proc, time.monotonic() + 10)
        if CURRENT.get("delete_test") and os.path.isdir(FREEZER_TEST_CGROUP):
            _write(os.path.join(FREEZER_TEST_CGROUP, "freezer.state"), "THAWED")
        kill_adopted(report)
        if "before" in CURRENT:
            cleanup_cgroups(CURRENT["before"], report, proc.pid, CURRENT["delete_test"])
        unmount_under(work, report)
        for line in report:
            log("  cleanup: " + line)
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


def print_report(results, files):
    rts = list(results["runtimes"])
    tot = {n: {"pass": 0, "fail": 0, "skip": 0} for n in rts}
    head = "%-26s" % "file" + "".join("| %-6s %4s %4s %4s " % (n, "pass", "fail", "skip")
                                      for n in rts) + "| note"
    suite = results["suite"]
    print("crun %s test-suite from %s; test stdout: %s; python libmount: %s" % (
        suite.get("version", "?"), suite["tree"], suite["stdout"], suite["libmount_module"]))
    print(head)
    print("-" * len(head))
    for f in files:
        row = "%-26s" % f
        notes = []
        for n in rts:
            rec = results["runtimes"][n]["files"].get(f)
            if rec is None:
                row += "| %-6s %4s %4s %4s " % ("", "-", "-", "-")
                continue
            c = count(rec)
            for k in c:
                tot[n][k] += c[k]
            row += "| %-6s %4d %4d %4d " % ("", c["pass"], c["fail"], c["skip"])
            if rec["file_skipped"]:
                if rec["skip_reason"] not in notes:
                    notes.append(rec["skip_reason"])
            elif rec["errors"]:
                notes.append("%s: %s" % (n, ", ".join(rec["errors"])))
            left = [x for x in rec.get("cleanup", [])
                    if not x.startswith(("pid counter", "NOTE:"))]
            if left:
                notes.append("%s left %d thing(s) behind, removed" % (n, len(left)))
        if f == "test_mounts.py" and "stand-in" in suite["libmount_module"]:
            notes.insert(0, "with run.py's python-libmount stand-in")
        print(row + "| " + "; ".join(notes))
    print("-" * len(head))
    row = "%-26s" % "total"
    for n in rts:
        row += "| %-6s %4d %4d %4d " % ("", tot[n]["pass"], tot[n]["fail"], tot[n]["skip"])
    print(row + "|")
    results["totals"] = tot
    for w in results["host"]["warnings"]:
        print("WARNING: " + w)
    for n in rts:
        print("%s: %s" % (n, results["runtimes"][n]["version"]))
    a, b = rts[0], rts[1]
    ok = tot[a]["pass"] >= tot[b]["pass"]
    total = sum(tot[a].values())
    print("%s passes %d, %s passes %d (of %d tests): %s >= %s: %s" % (
        a, tot[a]["pass"], b, tot[b]["pass"], total, a, b, "yes" if ok else "no"))
    # what lxcri should look at: its failures, and tests where the two differ
    fails = []
    for f in files:
        ra = results["runtimes"][a]["files"].get(f)
        rb = results["runtimes"][b]["files"].get(f)
        if not ra:
            continue
        other = {t["name"]: t["result"] for t in (rb or {}).get("tests", [])}
        for t in ra["tests"]:
            if t["result"] in ("FAIL", "ERROR", "XPASS"):
                fails.append((f, t["name"], other.get(t["name"], "?"), first_line(t["log"])))
    if fails:
        print("\n%s failures (%s's result in brackets; first line of the test's output):" % (a, b))
        for f, name, other, line in fails:
            print("  %s %s [%s]: %s" % (f, name, other, line[:200]))
    results["verdict"] = {"lxcri_pass": tot[a]["pass"], "crun_pass": tot[b]["pass"],
                          "total": total, "parity": ok}
    return ok


if __name__ == "__main__":
    try:
        sys.exit(main())
    except HarnessError as e:
        print(str(e), file=sys.stderr)
        sys.exit(2)
