"""Seeded mutations of a valid busybox bundle's config.json, each run through `lxcri run`.

Every case must end cleanly: the container ran (exit 0), or lxcri refused it with a
short message on one line and a non-zero exit; never a traceback or a hang, and
nothing left behind (no state entry, no cgroup, no process with the id).

The seed is printed and in every failure message. To replay one case:
    LXCRI_FUZZ_SEED=<seed> LXCRI_FUZZ_CASE=<n> make test  (or pytest this file)
LXCRI_FUZZ_SECONDS bounds the run (default 75 s): cases are made until it is spent
(at most LXCRI_FUZZ_MAX_CASES, default 400), each derived from (seed, n) alone, so a
shorter or longer run makes the same cases in the same order. The budget only
chooses how many cases run; no assertion is about time.

Mutations never drop the mount namespace, point root.path at a directory outside
the bundle, or add hooks: those would act on the host itself, not on lxcri.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest

from errs_support import err_id, leftovers, remove_cgroups
from support import LXCRI, bundle_factory, copy_rootfs

MAX_LINE = 400  # one line: the message with the bundle's tmp path in it
CASE_TIMEOUT = 30.0  # a case that takes this long hangs

Doc = Dict[str, Any]
JsonPath = Tuple[Any, ...]

# Values put where they do not belong. No "/" and no "..": a root.path mutated to
# either would turn a host directory into the container's rootfs.
STRINGS = ["", "x", "\u0000", "\u00e9\u2603", "a" * 300, "-1", "/nonexistent/lxcri-fuzz",
           "RLIMIT_BOGUS", "bogus"]
NUMBERS = [-1, -2**31, 0, 1, 2**31, 2**32, 2**53, 2**63 - 1, 2**63, 2**64, 2**64 + 1, 1.5,
           -0.0, 1e308]
OTHERS: List[Any] = [None, True, False, [], {}, [None], {"": None}, ["x", 1]]


def _paths(node: Any, path: JsonPath = ()) -> List[JsonPath]:
    out = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*path, i))
    return out


def _get(doc: Any, path: JsonPath) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _set(doc: Any, path: JsonPath, value: Any) -> None:
    _get(doc, path[:-1])[path[-1]] = value


def _protected(doc: Doc, path: JsonPath) -> bool:
    """Paths a mutation must leave alone (see the module docstring)."""
    if path[:1] == ("hooks",):
        return True
    if path[:2] == ("linux", "namespaces") and len(path) >= 3:
        entry = _get(doc, path[:3])
        return isinstance(entry, dict) and entry.get("type") == "mount"
    return path in (("linux",), ("linux", "namespaces"))


def _other_type(rng: random.Random, value: Any) -> Any:
    pools = [p for p in (STRINGS, NUMBERS, OTHERS) if not any(
        type(v) is type(value) for v in p)]
    return rng.choice(rng.choice(pools or [OTHERS]))


def m_wrong_type(rng: random.Random, doc: Doc) -> str:
    paths = [p for p in _paths(doc) if not _protected(doc, p)]
    path = rng.choice(paths)
    value = _other_type(rng, _get(doc, path))
    _set(doc, path, value)
    return f"wrong type at {path}: {value!r:.60}"


def m_missing_key(rng: random.Random, doc: Doc) -> str:
    paths = [p for p in _paths(doc) if isinstance(p[-1], str) and not _protected(doc, p)]
    path = rng.choice(paths)
    del _get(doc, path[:-1])[path[-1]]
    return f"missing {path}"


def m_number(rng: random.Random, doc: Doc) -> str:
    """Out-of-range numbers where numbers belong: ids, resources, rlimits, OOM score."""
    value = rng.choice(NUMBERS)
    where = rng.choice([
        ("process", "user", "uid"), ("process", "user", "gid"), ("process", "oomScoreAdj"),
        ("linux", "resources", "memory", "limit"), ("linux", "resources", "memory", "swap"),
        ("linux", "resources", "cpu", "shares"), ("linux", "resources", "cpu", "quota"),
        ("linux", "resources", "cpu", "period"), ("linux", "resources", "pids", "limit"),
        ("linux", "resources", "blockIO", "weight"), ("process", "consoleSize", "height"),
        ("process", "rlimits", 0, "hard"), ("process", "rlimits", 0, "soft"),
    ])
    node: Any = doc
    for part, nxt in zip(where, where[1:]):
        if isinstance(part, int):
            if not isinstance(node, list) or not node:
                return "rlimits gone: no change"
            node = node[part]
            continue
        if not isinstance(node, dict):
            return f"no object at {part}: no change"
        node = node.setdefault(part, [] if isinstance(nxt, int) else {})
    if isinstance(node, dict):
        node[where[-1]] = value
    return f"{where} = {value!r}"


def m_mount(rng: random.Random, doc: Doc) -> str:
    mount = rng.choice([
        {"destination": "../../../etc/lxcri-fuzz", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "relative/path", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/mnt", "type": "bogusfs", "source": "none"},
        {"destination": "/mnt", "type": "bind", "source": "/nonexistent/lxcri-fuzz",
         "options": ["bind"]},
        {"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["bogus=1"]},
        {"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["size=-1"]},
        {"destination": "", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/proc", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/dev/null", "type": "proc", "source": "proc"},
        {"destination": "/mnt", "type": "bind", "source": "/etc/hostname",
         "options": ["rbind", "ro"]},
        {"destination": "/mnt\u0000x", "type": "tmpfs", "source": "tmpfs"},
        {"type": "tmpfs"},
    ])
    doc.setdefault("mounts", [])
    if isinstance(doc["mounts"], list):
        doc["mounts"].append(mount)
    return f"mount {mount}"


def m_namespace(rng: random.Random, doc: Doc) -> str:
    ns = rng.choice([
        {"type": "bogus"}, {"type": "pid"}, {"type": "network", "path": "/nonexistent"},
        {"type": "uts", "path": "/proc/self/ns/net"}, {"type": "user"}, {"type": ""},
        {"type": "cgroup", "path": ""}, {"type": "time"}, {"path": "/proc/1/ns/ipc"},
        {"type": "ipc", "path": "/dev/null"},
    ])
    spaces = doc.get("linux", {}).get("namespaces")
    if isinstance(spaces, list):
        spaces.append(ns)
    return f"namespace {ns}"


def m_deep(rng: random.Random, doc: Doc) -> str:
    """A value nested `depth` deep (arrays, objects or both): too deep for json.dumps, so a
    placeholder string here, replaced by the bytes in make_case."""
    depth = rng.choice([900, 1100, 5000, 100_000])
    kind = rng.choice(["[", "{", "mixed"])
    place = rng.choice([("annotations", "x"), ("process", "args"), ("linux", "x"), ("x",)])
    node: Any = doc
    for part in place[:-1]:
        node = node.setdefault(part, {}) if isinstance(node, dict) else node
    if isinstance(node, dict):
        node[place[-1]] = f"@@deep:{depth}:{kind}:{rng.randrange(1 << 30)}@@"
    return f"nested {depth} deep ({kind}) at {place}"


def _deep_bytes(depth: int, kind: str, salt: int) -> bytes:
    rng = random.Random(salt)
    opens, closes = [], []
    for _ in range(depth):
        array = kind == "[" or (kind == "mixed" and rng.random() < 0.5)
        opens.append(b"[" if array else b'{"a":')
        closes.append(b"]" if array else b"}")
    return b"".join(opens) + b"1" + b"".join(reversed(closes))


def m_huge(rng: random.Random, doc: Doc) -> str:
    size = rng.choice([1 << 20, 17 << 20])
    doc.setdefault("annotations", {})["org.example.huge"] = "x" * size
    return f"a {size >> 20} MiB annotation"


MUTATIONS: List[Tuple[Callable[[random.Random, Doc], str], int]] = [
    (m_wrong_type, 30), (m_missing_key, 20), (m_number, 20), (m_mount, 12), (m_namespace, 10),
    (m_deep, 4), (m_huge, 2),
]


def make_case(seed: int, n: int, base: Doc) -> Tuple[bytes, str]:
    """Case n of seed: config.json's bytes and what was done to them."""
    rng = random.Random(f"{seed}:{n}")
    doc = json.loads(json.dumps(base))
    done = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        fns, weights = zip(*MUTATIONS)
        done.append(rng.choices(fns, weights)[0](rng, doc))
    data = json.dumps(doc).encode("utf-8", "surrogatepass")
    while b'"@@deep:' in data:
        start = data.index(b'"@@deep:')
        end = data.index(b'@@"', start + 8) + 3
        depth, kind, salt = data[start + 8:end - 3].decode().split(":")
        data = data[:start] + _deep_bytes(int(depth), kind, int(salt)) + data[end:]
    if rng.random() < 0.08:  # invalid UTF-8 inside a string
        at = data.find(b'"', rng.randrange(len(data)))
        if at > 0:
            data = data[:at + 1] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80"]) + data[at + 1:]
            done.append(f"invalid UTF-8 at byte {at + 1}")
    return data, "; ".join(done)


@pytest.mark.core
def test_fuzzed_configs_end_cleanly(state_root: Path, rootfs: Path, tmp_path: Path,
                                    base_spec: Dict[str, Any]) -> None:
    seed = int(os.environ.get("LXCRI_FUZZ_SEED") or random.SystemRandom().randrange(1 << 32))
    only = os.environ.get("LXCRI_FUZZ_CASE")
    budget = float(os.environ.get("LXCRI_FUZZ_SECONDS", "75"))
    max_cases = int(os.environ.get("LXCRI_FUZZ_MAX_CASES", "400"))
    print(f"\nlxcri fuzz: LXCRI_FUZZ_SEED={seed}")
    # A rootfs of this test's own: a case that drops the /dev mount has libcrun make
    # device nodes in the rootfs itself, which the session's shared one must not get.
    private = tmp_path / "rootfs"
    copy_rootfs(rootfs, private)
    bundle = bundle_factory(tmp_path, private, base_spec)("true")
    base = json.loads((bundle / "config.json").read_text())
    cases = [int(only)] if only else range(max_cases)
    started = time.monotonic()
    outcomes: Dict[str, int] = {"ran": 0, "container exit": 0, "refused": 0}
    problems: List[str] = []
    for n in cases:
        if only is None and time.monotonic() - started > budget:
            break
        data, what = make_case(seed, n, base)
        (bundle / "config.json").write_bytes(data)
        id = err_id(f"fz{n}")
        where = f"LXCRI_FUZZ_SEED={seed} LXCRI_FUZZ_CASE={n} ({what})"
        try:
            proc = subprocess.run([LXCRI, "--root", str(state_root), "run", "--bundle",
                                   str(bundle), id], stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=CASE_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"lxcri run hung (over {CASE_TIMEOUT:.0f} s): {where}")
        finally:
            subprocess.run([LXCRI, "--root", str(state_root), "delete", "--force", id],
                           capture_output=True, timeout=CASE_TIMEOUT)
        err = proc.stderr.decode("utf-8", "replace")
        problem = _judge(proc.returncode, err, outcomes)
        left = leftovers(state_root, id)
        if left:
            remove_cgroups(id)  # so that one failure does not leak into the host
            problem = (problem + "; " if problem else "") + f"left behind {left}"
        if problem:
            problems.append(f"{where}: {problem} (stderr: {err.strip()[:300]!r})")
    print(f"lxcri fuzz: seed {seed}: {sum(outcomes.values())} cases, {outcomes}")
    assert not problems, f"{len(problems)} of {sum(outcomes.values())} cases failed:\n" + \
        "\n".join(problems[:8])
    assert sum(outcomes.values()) >= (1 if only else 20), "too few cases ran to mean anything"


def _judge(code: int, err: str, outcomes: Dict[str, int]) -> str:
    """What is wrong with one case's outcome ("" when nothing), counting it in outcomes."""
    lines = [line for line in err.splitlines() if line.strip()]
    if "Traceback" in err or "internal error" in err:
        return "a traceback or internal error"
    if code == 0:
        outcomes["ran"] += 1
        return ""
    if code > 1 and not lines:
        outcomes["container exit"] += 1  # it ran; its own status (OOM-killed: 137)
        return ""
    outcomes["refused"] += 1
    if len(lines) != 1:
        return f"{len(lines)} lines on stderr"
    if not lines[0].startswith("lxcri: "):
        return "stderr is not lxcri's message"
    if len(lines[0]) > MAX_LINE:
        return f"a {len(lines[0])}-character message"
    if code != 1:
        return f"exit {code}"
    return ""
