"""Reading a test file's output: TAP the way automake's tap-driver.sh reads it, the
per-file record (results, errors, tests never reported), and the counts.
"""
from __future__ import annotations

import re
from typing import Any

Events = list[tuple[str, str]]   # (stream "out" or "err", text) in arrival order
Record = dict[str, Any]          # one file's results, as in the JSON
LOG_CAP = 4000            # characters of per-test log kept in the JSON

# automake's tap-driver.sh: a directive is '#' then TODO/SKIP, at the end of the
# line or followed by a non-word character; case-insensitive.
_DIRECTIVE = re.compile(r"[ \t]*#[ \t]*(todo|skip)(?:[^a-zA-Z0-9_].*)?$", re.I)
_RESULT = re.compile(r"^(not )?ok(?![^ \t])[ \t]*([0-9]+)?[ \t]*(?:- )?(.*)$")
_PLAN = re.compile(r"^1\.\.([0-9]+)")


def parse_tap(events: Events) -> tuple[int | None, list[dict[str, Any]], list[str]]:
    """Return (plan or None, [ {n, name, result, log} ], trailing log lines).

    events: (stream, text) chunks in arrival order. Like tap-driver only stdout is
    TAP; a test's 'log' is what it wrote on stdout (non-TAP lines) or stderr since
    the previous result. result: PASS, FAIL, SKIP, XFAIL or XPASS, as tap-driver
    would say."""
    plan: int | None = None
    results: list[dict[str, Any]] = []
    pending: list[str] = []
    partial = ""

    def line_out(line: str) -> None:
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


def judge(fname: str, events: Events, rc: int | None, timed_out: bool,
          declared: list[str]) -> Record:
    """Turn one file's output into per-test results, the way tap-driver would."""
    plan, results, trailing = parse_tap(events)
    rec: Record = {"exit": rc, "timed_out": timed_out, "plan": plan, "tests": results,
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


def count(rec: Record) -> dict[str, int]:
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


def first_line(s: str) -> str:
    for line in s.splitlines():
        line = line.strip()
        if line:
            return line
    return "(no output)"
