#!/usr/bin/env python3
"""The smoke set run inside the guest that scripts/guest-smoke.sh boots (systemd as pid 1,
pure cgroup v2): lxcri on the cgroup paths a Proxmox VE host takes.

    guest-smoke-inside.py --lxcri-dir /root/lxcri --results /dev/vport0p1

Run with the lxcri virtualenv's python (it imports lxcri for the default spec). Each
check prints one line `PASS name: reason` or `FAIL name: reason` to the results port
(and the console); `INFO ...` lines carry measurements; `DONE` ends the run. A check
that fails does not stop the next one; every container is removed afterwards.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional

WORK = "/var/tmp/lxcri-smoke"
ROOT = WORK + "/state"          # lxcri --root for the lxcri checks
MiB = 1024 * 1024


class Fail(Exception):
    pass


class Smoke:
    def __init__(self, lxcri_dir: str, results: Optional[str]) -> None:
        self.lxcri = os.path.join(lxcri_dir, ".venv", "bin", "lxcri")
        self.python = os.path.join(lxcri_dir, ".venv", "bin", "python")
        self.make_bundle = os.path.join(lxcri_dir, "scripts", "make-bundle.py")
        self.contrib = os.path.join(lxcri_dir, "contrib", "containers.conf")
        self.sinks = [sys.stdout]
        if results:  # stdout goes to the journal and the console (systemd.run=)
            try:
                self.sinks.append(open(results, "w", buffering=1))
            except OSError as exc:
                print(f"cannot open {results}: {exc}", flush=True)
        self.failed = 0
        self.state: Dict[str, Any] = {}
        self.cleanups: List[Callable[[], None]] = []

    # ------------------------------------------------------------------ output
    def say(self, line: str) -> None:
        for s in self.sinks:
            try:
                s.write(line.replace("\n", " | ") + "\n")
                s.flush()
            except OSError:
                pass

    def check(self, name: str, fn: Callable[[], str]) -> None:
        started = time.monotonic()
        try:
            reason = fn()
            self.say(f"PASS {name}: {reason} ({time.monotonic() - started:.1f}s)")
        except Fail as exc:
            self.failed += 1
            self.say(f"FAIL {name}: {exc} ({time.monotonic() - started:.1f}s)")
        except Exception as exc:  # noqa: BLE001 (a harness reports, never crashes)
            self.failed += 1
            self.say(f"FAIL {name}: {type(exc).__name__}: {exc}")
        finally:
            while self.cleanups:
                try:
                    self.cleanups.pop()()
                except Exception as exc:  # noqa: BLE001
                    self.say(f"INFO cleanup after {name} failed: {exc}")

    # ---------------------------------------------------------------- commands
    def run(self, argv: List[str], *, timeout: float = 180, check: bool = True,
            env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess[str]:
        """Output into files, not pipes: a created container keeps the caller's stdio."""
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            try:
                proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                      text=True, timeout=timeout, env=env, check=False)
            except subprocess.TimeoutExpired:
                raise Fail(f"timed out after {timeout}s: {shlex.join(argv)}") from None
            out.seek(0)
            err.seek(0)
            proc.stdout, proc.stderr = out.read(), err.read()
        if check and proc.returncode != 0:
            raise Fail(f"`{shlex.join(argv)}` exited {proc.returncode}: "
                       f"{(proc.stderr or proc.stdout).strip()[-600:]}")
        return proc

    def lx(self, *args: str, systemd: bool = False, **kw: Any) -> subprocess.CompletedProcess[str]:
        glob = ["--root", ROOT] + (["--systemd-cgroup"] if systemd else [])
        return self.run([self.lxcri, *glob, *args], **kw)

    # ----------------------------------------------------------------- bundles
    def rootfs(self) -> str:
        path = os.path.join(WORK, "rootfs")
        if not os.path.isdir(path):
            for sub in ("bin", "proc", "sys", "dev", "tmp", "etc", "root"):
                os.makedirs(os.path.join(path, sub))
            shutil.copy2("/bin/busybox", os.path.join(path, "bin", "busybox"))
            names = self.run(["/bin/busybox", "--list"]).stdout.split()
            for name in names:
                if name != "busybox":
                    os.symlink("busybox", os.path.join(path, "bin", name))
            with open(os.path.join(path, "etc", "passwd"), "w") as f:
                f.write("root:x:0:0:root:/root:/bin/sh\n")
            with open(os.path.join(path, "etc", "group"), "w") as f:
                f.write("root:x:0:\n")
        return path

    def bundle(self, name: str, args: List[str], memory: Optional[int] = None) -> str:
        from lxcri.runtime import default_spec

        spec = default_spec()
        spec["process"]["terminal"] = False
        spec["process"]["args"] = args
        spec["root"] = {"path": self.rootfs(), "readonly": True}
        spec["hostname"] = name
        if memory is not None:
            spec["linux"].setdefault("resources", {})["memory"] = {"limit": memory}
        path = os.path.join(WORK, "bundles", name)
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(spec, f, indent=1)
        return path

    # ------------------------------------------------------------------ cgroups
    @staticmethod
    def cgroup_of(pid: int) -> str:
        """The process's cgroup v2 path, from the host's side (/proc/PID/cgroup)."""
        with open(f"/proc/{pid}/cgroup") as f:
            lines = f.read().split()
        v2 = [line[3:] for line in lines if line.startswith("0::")]
        if len(lines) != 1 or not v2:
            raise Fail(f"/proc/{pid}/cgroup is not a single v2 entry: {lines}")
        return v2[0]

    @staticmethod
    def read(path: str) -> str:
        with open(path) as f:
            return f.read().strip()

    def container_pid(self, id: str, systemd: bool = False) -> int:
        state = json.loads(self.lx("state", id, systemd=systemd).stdout)
        if state.get("status") != "running" or not state.get("pid"):
            raise Fail(f"{id} is not running: {state}")
        return int(state["pid"])

    def create_started(self, id: str, bundle: str, *, systemd: bool = False,
                       runtime: Optional[str] = None) -> int:
        extra = ["--runtime", runtime] if runtime else []
        self.cleanups.append(lambda: self.lx("delete", "--force", id, systemd=systemd,
                                             check=False))
        self.lx("create", *extra, "--bundle", bundle, id, systemd=systemd)
        self.lx("start", id, systemd=systemd)
        return self.container_pid(id, systemd=systemd)

    def stop_delete(self, id: str, *, systemd: bool = False) -> None:
        self.lx("kill", id, "KILL", systemd=systemd)
        deadline = time.monotonic() + 30
        while json.loads(self.lx("state", id, systemd=systemd).stdout)["status"] != "stopped":
            if time.monotonic() > deadline:
                raise Fail(f"{id} did not stop within 30s of SIGKILL")
            time.sleep(0.2)
        self.lx("delete", id, systemd=systemd)

    @staticmethod
    def wait_gone(path: str, what: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while os.path.exists(path):
            if time.monotonic() > deadline:
                raise Fail(f"{what} {path} is still there {timeout}s after delete")
            time.sleep(0.2)

    # ------------------------------------------------------------------- checks
    def platform(self) -> str:
        init = os.readlink("/proc/1/exe")
        fstype = self.run(["stat", "-f", "-c", "%T", "/sys/fs/cgroup"]).stdout.strip()
        v1 = [line.split()[1] for line in open("/proc/mounts") if line.split()[2] == "cgroup"]
        ctl = self.read("/sys/fs/cgroup/cgroup.controllers")
        if "systemd" not in init or fstype != "cgroup2fs" or v1 or "memory" not in ctl:
            raise Fail(f"pid 1 {init}, /sys/fs/cgroup {fstype}, v1 mounts {v1}, "
                       f"controllers {ctl!r}: not a pure cgroup v2 systemd host")
        ver = self.run(["systemctl", "--version"]).stdout.split("\n")[0]
        return f"pid 1 is {init} ({ver}), /sys/fs/cgroup is cgroup2fs only, controllers: {ctl}"

    def demo(self) -> str:
        bundle = os.path.join(WORK, "bundles", "demo")
        self.run([self.python, self.make_bundle, bundle, "--hostname", "lxcri-demo", "--",
                  "sh", "-c", 'echo "hello from $(hostname), I am pid $$ in a container run by lxcri"'])
        cid = f"lxcri-demo-{os.getpid()}"
        self.cleanups.append(lambda: self.lx("delete", "--force", cid, check=False))
        out = self.lx("run", "--bundle", bundle, cid).stdout
        want = "hello from lxcri-demo, I am pid 1 in a container run by lxcri\n"
        if out != want:
            raise Fail(f"printed {out!r}, wanted {want!r}")
        return f"printed {out.strip()!r}"

    def memory(self) -> str:
        cid = "smoke-mem"
        bundle = self.bundle(cid, ["sleep", "600"], memory=64 * MiB)
        pid = self.create_started(cid, bundle)
        cg = self.cgroup_of(pid)
        host = self.read(f"/sys/fs/cgroup{cg}/memory.max")
        inside = self.lx("exec", cid, "cat", "/sys/fs/cgroup/memory.max").stdout.strip()
        if host != str(64 * MiB) or inside != str(64 * MiB):
            raise Fail(f"limit {64 * MiB}: host side {cg}/memory.max={host}, inside {inside}")
        self.state["mem"] = (cid, pid, cg)  # the update check goes on with this container
        self.cleanups.clear()
        return f"limit 64 MiB: /sys/fs/cgroup{cg}/memory.max = {host} (pid {pid}), inside = {inside}"

    def update(self) -> str:
        if "mem" not in self.state:
            raise Fail("no container from the memory-limit check")
        cid, pid, cg = self.state.pop("mem")
        self.cleanups.append(lambda: self.lx("delete", "--force", cid, check=False))
        self.lx("update", "--memory", "128m", cid)
        host = self.read(f"/sys/fs/cgroup{cg}/memory.max")
        inside = self.lx("exec", cid, "cat", "/sys/fs/cgroup/memory.max").stdout.strip()
        if host != str(128 * MiB) or inside != str(128 * MiB):
            raise Fail(f"after update --memory 128m: host {host}, inside {inside}")
        self.stop_delete(cid)
        self.wait_gone(f"/sys/fs/cgroup{cg}", "cgroup")
        return f"update --memory 128m: memory.max {64 * MiB} -> {host} (inside {inside}); cgroup removed on delete"

    def systemd(self) -> str:
        cid = "smoke-systemd"
        bundle = self.bundle(cid, ["sleep", "600"], memory=48 * MiB)
        pid = self.create_started(cid, bundle, systemd=True)
        cg = self.cgroup_of(pid)
        scopes = [p for p in cg.split("/") if p.endswith(".scope")]
        if not scopes:
            raise Fail(f"container cgroup {cg} is in no systemd scope")
        unit = scopes[-1]
        status = self.run(["systemctl", "status", "--no-pager", unit], check=False)
        props = dict(line.split("=", 1) for line in self.run(
            ["systemctl", "show", unit, "-p", "ActiveState", "-p", "ControlGroup",
             "-p", "MemoryMax", "-p", "Slice", "-p", "Delegate"]).stdout.split("\n") if "=" in line)
        mem = self.read(f"/sys/fs/cgroup{cg}/memory.max")
        self.say("INFO systemctl status: " + " | ".join(status.stdout.strip().split("\n")[:4]))
        if status.returncode != 0 or props.get("ActiveState") != "active":
            raise Fail(f"unit {unit} not active: rc {status.returncode}, {props}")
        if not cg.startswith(props.get("ControlGroup", "?")):
            raise Fail(f"container cgroup {cg} is not under the unit's {props}")
        if mem != str(48 * MiB):
            raise Fail(f"limit {48 * MiB}: {cg}/memory.max = {mem}")
        self.stop_delete(cid, systemd=True)
        deadline = time.monotonic() + 20
        while True:
            after = self.run(["systemctl", "show", unit, "-p", "LoadState", "-p", "ActiveState"]).stdout
            if "LoadState=not-found" in after or "ActiveState=inactive" in after:
                break
            if time.monotonic() > deadline:
                raise Fail(f"unit {unit} still there 20s after delete: {after.split()}")
            time.sleep(0.3)
        self.wait_gone(f"/sys/fs/cgroup{cg}", "cgroup")
        return (f"unit {unit} active in {props.get('Slice')}, ControlGroup {props.get('ControlGroup')}, "
                f"container cgroup {cg}, MemoryMax={props.get('MemoryMax')}, memory.max={mem}; "
                f"after delete: {' '.join(after.split())}")

    def podman(self) -> str:
        log = os.path.join(WORK, "podman-runtime.log")
        wrapper = os.path.join(WORK, "lxcri-for-podman")
        with open(wrapper, "w") as f:
            f.write(f"""#!/bin/sh
echo "$$ $*" >> {log}
prev=
for a in "$@"; do
    [ "$prev" = --bundle ] && cp "$a/config.json" {WORK}/podman-create-config.json
    prev=$a
done
exec {self.lxcri} "$@"
""")
        os.chmod(wrapper, 0o755)
        with open(self.contrib) as f:
            conf = f.read()
        conf = conf.replace('# runtime = "lxcri"', 'runtime = "lxcri"')
        conf = conf.replace('lxcri = ["/usr/local/bin/lxcri", "/usr/bin/lxcri"]',
                            f'lxcri = ["{wrapper}"]')
        conf = conf.replace("[engine]\n", '[engine]\ncgroup_manager = "systemd"\n', 1)
        if f'lxcri = ["{wrapper}"]' not in conf or 'runtime = "lxcri"' not in conf:
            raise Fail(f"{self.contrib} no longer has the lines this check edits")
        os.makedirs("/etc/containers/containers.conf.d", exist_ok=True)
        with open("/etc/containers/containers.conf.d/lxcri.conf", "w") as f:
            f.write(conf)
        tar = os.path.join(WORK, "busybox.tar")
        self.run(["tar", "-C", self.rootfs(), "-cf", tar, "."])
        image = "localhost/lxcri-smoke-busybox:latest"
        self.run(["podman", "import", tar, image], timeout=300)
        info = self.run(["podman", "info", "--format",
                         "{{.Host.CgroupManager}} {{.Host.CgroupsVersion}} {{.Host.OCIRuntime.Name}}"]).stdout.strip()
        if info != "systemd v2 lxcri":
            raise Fail(f"podman info says {info!r}, wanted 'systemd v2 lxcri'")
        proc = self.run(["podman", "run", "--rm", "--network", "none", "--memory", "64m", image,
                         "sh", "-c", "echo hello from podman; cat /sys/fs/cgroup/memory.max"],
                        timeout=300, check=False)
        calls = open(log).read() if os.path.exists(log) else ""
        create = [c for c in calls.split("\n") if " create " in c]
        if proc.returncode != 0 or proc.stdout != f"hello from podman\n{64 * MiB}\n":
            raise Fail(f"podman run exited {proc.returncode}, stdout {proc.stdout!r}, "
                       f"stderr {proc.stderr.strip()[-500:]!r}; runtime calls: {calls[-800:]!r}")
        if not create or "--systemd-cgroup" not in create[-1]:
            raise Fail(f"conmon did not pass --systemd-cgroup: {create}")
        with open(os.path.join(WORK, "podman-create-config.json")) as f:
            cgpath = json.load(f)["linux"].get("cgroupsPath", "")
        if not cgpath.startswith("machine.slice:libpod:"):
            raise Fail(f"cgroupsPath {cgpath!r} is not a systemd slice:prefix:name path")
        left = self.run(["podman", "ps", "--all", "--quiet"]).stdout.strip()
        units = self.run(["systemctl", "list-units", "--all", "--no-legend", "--plain",
                          "libpod-*"]).stdout.strip()
        if left or "running" in units:
            raise Fail(f"left after run --rm: containers {left!r}, units {units!r}")
        return (f"podman run --rm printed hello and memory.max {64 * MiB}; podman info: {info}; "
                f"create argv had --systemd-cgroup, cgroupsPath {cgpath.split(':')[0]}:libpod:<id>; "
                f"nothing left")

    def lxc(self) -> str:
        # liblxc confines a container with the lxc-container-default-cgns profile and fails
        # ("Failed to write AppArmor profile") when it is not loaded. apparmor.service,
        # which would load every profile at boot (about 20 s under TCG), is masked here:
        # load the profiles the lxc package ships, as that service does.
        profiles = "/sys/kernel/security/apparmor/profiles"
        if os.path.exists(profiles) and "lxc-container-default-cgns" not in self.read(profiles):
            self.run(["apparmor_parser", "-r", "/etc/apparmor.d/lxc-containers"])
        cid = "smoke-lxc-run"
        limit = 80 * MiB
        bundle = self.bundle(cid, ["sh", "-c", "echo hello from lxc; cat /sys/fs/cgroup/memory.max"],
                             memory=limit)
        self.cleanups.append(lambda: self.lx("delete", "--force", cid, check=False))
        out = self.lx("run", "--runtime", "lxc", "--bundle", bundle, cid).stdout
        if out != f"hello from lxc\n{limit}\n":
            raise Fail(f"lxcri run --runtime lxc printed {out!r}")
        # Host side: a created and started lxc container, its LXC config and its cgroup.
        cid2 = "smoke-lxc"
        bundle2 = self.bundle(cid2, ["sleep", "600"], memory=limit)
        pid = self.create_started(cid2, bundle2, runtime="lxc")
        conf = self.read(os.path.join(ROOT, ".lxcri", "lxc", cid2, "config"))
        keys = [line.strip() for line in conf.split("\n") if line.startswith("lxc.cgroup")
                and "memory" in line]
        cg = self.cgroup_of(pid)
        host = self.read(f"/sys/fs/cgroup{cg}/memory.max")
        try:
            label = self.read(f"/proc/{pid}/attr/apparmor/current")
        except OSError:
            label = "?"
        if f"lxc.cgroup2.memory.max = {limit}" not in keys or host != str(limit):
            raise Fail(f"config cgroup keys {keys}, host {cg}/memory.max = {host}")
        self.lx("delete", "--force", cid2)
        self.wait_gone(f"/sys/fs/cgroup{cg}", "cgroup")
        return (f"run printed hello and memory.max {limit} from inside; LXC config {keys}; "
                f"host side /sys/fs/cgroup{cg}/memory.max = {host}; AppArmor {label}; "
                f"cgroup removed on delete")

    def main(self) -> int:
        up = float(self.read("/proc/uptime").split()[0])
        self.say(f"INFO boot: smoke script started {up:.1f}s after the kernel started "
                 f"({os.uname().release})")
        shutil.rmtree(WORK, ignore_errors=True)
        os.makedirs(ROOT)
        self.say("INFO " + " ".join(self.run([self.lxcri, "--version"]).stdout.split("\n")[:2]))
        with open("/proc/modules") as f:
            self.say("INFO modules at start: " + " ".join(sorted(line.split()[0] for line in f)))
        self.check("platform", self.platform)
        self.check("demo", self.demo)
        self.check("memory-limit", self.memory)
        self.check("update", self.update)
        self.check("systemd-cgroup", self.systemd)
        self.check("podman-systemd", self.podman)
        self.check("lxc-memory", self.lxc)
        up2 = float(self.read("/proc/uptime").split()[0])
        self.say(f"INFO checks took {up2 - up:.1f}s in the guest")
        self.say(f"DONE {self.failed} failed")
        return 1 if self.failed else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lxcri-dir", default="/root/lxcri")
    ap.add_argument("--results", default=None, help="file or port that gets the result lines")
    ns = ap.parse_args()
    return Smoke(ns.lxcri_dir, ns.results).main()


if __name__ == "__main__":
    sys.exit(main())
