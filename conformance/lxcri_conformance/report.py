"""The report on stdout: the table per file and runtime, the totals, the verdict
`lxcri passes N, crun passes M ...`, and lxcri's failures next to crun's results.

It also adds `totals` and `verdict` to the results dict that --json writes.
"""
from __future__ import annotations

from typing import Any

from .results import count, first_line


def print_report(results: dict[str, Any], files: list[str]) -> bool:
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
    fails: list[tuple[str, str, str, str]] = []
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
        for f, name, theirs, line in fails:
            print("  %s %s [%s]: %s" % (f, name, theirs, line[:200]))
    results["verdict"] = {"lxcri_pass": tot[a]["pass"], "crun_pass": tot[b]["pass"],
                          "total": total, "parity": ok}
    return ok
