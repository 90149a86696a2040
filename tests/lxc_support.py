"""Helpers for the lxc backend's tests: a command runner, bundles on a private rootfs, checks.

`LxcCli` runs `lxcri --root R create|run --runtime lxc ...` (and other commands
plain: they follow the ownership record) when the installed lxcri has --runtime. Until the dispatch layer lands, it runs this file as a script
instead: a stand-in for that command line that calls LxcBackend directly, from a
sealed interpreter copy as the real CLI does (a test double of the CLI's dispatch
only; the backend, liblxc and the containers are real).
"""
from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional

LXCRI = os.path.join(os.path.dirname(sys.executable), "lxcri")
_HAS_RUNTIME_OPTION: Optional[bool] = None


def lxc_unavailable_reason() -> Optional[str]:
    """Why the liblxc driver cannot run here, or None."""
    try:
        from lxcri.backends import lxc_liblxc
    except ImportError as exc:
        return f"lxcri has no lxc backend: {exc}"
    ok, why = lxc_liblxc.availability({})
    return None if ok else why


def cli_has_runtime_option() -> bool:
    global _HAS_RUNTIME_OPTION
    if _HAS_RUNTIME_OPTION is None:
        out = subprocess.run([LXCRI, "create", "--help"], capture_output=True, text=True,
                             timeout=60)
        _HAS_RUNTIME_OPTION = "--runtime" in out.stdout
    return _HAS_RUNTIME_OPTION


class LxcCli:
    """Runs lxcri commands for the lxc backend against one state root."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def argv(self, *args: str, runtime: Optional[str] = "lxc") -> List[str]:
        if cli_has_runtime_option():
            # --runtime belongs to create and run; later commands follow the ownership record
            extra = ["--runtime", runtime] if runtime and args[0] in ("create", "run") else []
            return [LXCRI, "--root", str(self.root), args[0], *extra, *args[1:]]
        return [sys.executable, os.path.abspath(__file__), str(self.root), *args]

    def __call__(self, *args: str, check: bool = False, timeout: float = 60,
                 runtime: Optional[str] = "lxc", **kw: Any) -> subprocess.CompletedProcess[str]:
        # Files, not pipes: a created container keeps the caller's stdio.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            kw.setdefault("stdout", out)
            kw.setdefault("stderr", err)
            kw.setdefault("stdin", subprocess.DEVNULL)
            proc = subprocess.run(self.argv(*args, runtime=runtime), text=True,
                                  timeout=timeout, check=False, **kw)
            out.seek(0)
            err.seek(0)
            proc.stdout = out.read() if kw["stdout"] is out else ""
            proc.stderr = err.read() if kw["stderr"] is err else ""
        if check and proc.returncode != 0:
            raise AssertionError(f"lxcri {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
        return proc

    def state(self, id: str) -> Dict[str, Any]:
        import json

        return dict(json.loads(self("state", id, check=True).stdout))


def lxc_dir(root: Path, id: str) -> Path:
    return root / ".lxcri" / "lxc" / id


def tree_digest(top: Path) -> Dict[str, str]:
    """Every entry under top: type, mode, owner, and content hash or link target."""
    found: Dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, top)
            desc = f"{stat.S_IFMT(st.st_mode):o} {stat.S_IMODE(st.st_mode):o} {st.st_uid}:{st.st_gid}"
            if stat.S_ISLNK(st.st_mode):
                desc += " -> " + os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    desc += " " + hashlib.sha256(f.read()).hexdigest()
            found[rel] = desc
    return found


def mounts_mentioning(path: Path) -> List[str]:
    """Host mount points at or under path (LXC must leave none behind)."""
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(path))]


def all_cgroups_named(id: str) -> List[str]:
    """cgroup directories on every hierarchy (v1 and v2) whose name ends with the id."""
    found = []
    for dirpath, dirnames, _files in os.walk("/sys/fs/cgroup"):
        if dirpath.count("/") > 8:
            dirnames[:] = []
            continue
        if os.path.basename(dirpath).endswith(id):
            found.append(dirpath)
    return found


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# --- the stand-in command line (see the module docstring) ---------------------------------

def _main(argv: List[str]) -> int:
    from lxcri import sealed

    if not sealed.is_sealed():
        fd = sealed.sealed_executable_fd()
        args, env = sealed.sealed_python_argv(
            "sys.argv=sys.argv[1:];exec(compile(open(sys.argv[0]).read(),sys.argv[0],'exec'))",
            [os.path.abspath(__file__), *argv])
        sys.stdout.flush()
        os.execve(fd, args, env)
    from lxcri.backends.lxc import LxcBackend
    from lxcri.errors import LxcriError

    root, cmd, rest = argv[0], argv[1], argv[2:]
    opts: Dict[str, Any] = {}
    pos: List[str] = []
    i = 0
    while i < len(rest):
        a = rest[i]
        if a in ("--bundle", "--pid-file", "--process", "--format", "-b", "-p"):
            opts[a.lstrip("-")] = rest[i + 1]
            i += 2
            continue
        if a in ("--force", "-f", "--all", "-a", "--detach", "-d", "--keep"):
            opts[a.lstrip("-")] = True
        else:
            pos.append(a)
        i += 1
    backend = LxcBackend(root)
    try:
        id = pos[0]
        if cmd in ("create", "run"):
            bundle = os.path.abspath(opts.get("bundle", "."))
            config = os.path.join(bundle, "config.json")
            if cmd == "create":
                backend.create(id, bundle, config, pid_file=opts.get("pid-file"))
                return 0
            return backend.run(id, bundle, config, pid_file=opts.get("pid-file"),
                               detach=bool(opts.get("detach")), keep=bool(opts.get("keep")))
        if cmd == "start":
            backend.start(id)
        elif cmd == "state":
            print(backend.state_json(id))
        elif cmd == "kill":
            sig = pos[1] if len(pos) > 1 else "15"
            names = {"TERM": 15, "KILL": 9, "INT": 2, "HUP": 1, "USR1": 10}
            backend.kill(id, int(sig) if sig.isdigit() else names[sig.upper().replace("SIG", "")],
                         all=bool(opts.get("all")))
        elif cmd == "delete":
            backend.delete(id, force=bool(opts.get("force")))
        elif cmd == "exec":
            return backend.exec(id, opts["process"], detach=bool(opts.get("detach")),
                                pid_file=opts.get("pid-file"))
        elif cmd == "ps":
            import json

            print(json.dumps(backend.ps(id)))
        elif cmd == "pause":
            backend.pause(id)
        elif cmd == "resume":
            backend.resume(id)
        else:
            print(f"lxcri: unknown command {cmd}", file=sys.stderr)
            return 2
    except LxcriError as exc:
        print(f"lxcri: {exc.message}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
