"""The vm backend's row (report only): `lxcri run --runtime vm` of /bin/true, and where its time goes.

For each accelerator this host can use (TCG always; KVM where the CPU offers vmx/svm and
/dev/kvm works), --vm-rounds times: `lxcri run` of /bin/true timed end to end, then a
create/start/delete of the same bundle, read from the monitor's boot.json: QEMU start to
the guest's first instruction (QEMU's start to the agent's hello, less the guest's uptime
at that hello), the boot (QEMU start to hello), create -> ready, start -> exit, and QEMU's
RSS once the guest is ready (VmRSS, VmHWM of /proc/<qemu>/status). Medians are printed.
Runs after every other row, with nothing else of the benchmark's running, so reaping
orphaned monitors (the bench is a child subreaper) steals no status.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from .common import PREFIX, BenchError

TIMEOUT = 300


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _status_kb(pid: int, field: str) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def accelerators(python: str) -> List[str]:
    out = subprocess.run([python, "-P", "-c", "from lxcri.host import kvm; print(kvm.host_accel()[0])"],
                         capture_output=True, text=True, timeout=60)
    return ["tcg", "kvm"] if out.stdout.strip() == "kvm" else ["tcg"]


def available(lxcri: str) -> Optional[str]:
    """None when the vm backend is available, else why not."""
    out = subprocess.run([lxcri, "info", "--format", "json"], capture_output=True, text=True,
                         timeout=60)
    try:
        vm = next(r for r in json.loads(out.stdout)["runtimes"] if r["name"] == "vm")
    except (ValueError, KeyError, StopIteration):
        return f"lxcri info failed: {out.stderr.strip()}"
    return None if vm["available"] else str(vm["detail"])


def measure_vm(lxcri: str, python: str, bundle: Path, workdir: Path, rounds: int) -> Dict[str, Any]:
    why = available(lxcri)
    if why is not None:
        return {"skipped": why}
    results: Dict[str, Any] = {}
    for accel in accelerators(python):
        root = workdir / f"vm-{accel}"
        root.mkdir()
        conf = workdir / f"vm-{accel}.toml"
        conf.write_text(f'[runtimes.vm]\naccel = "{accel}"\n')
        env = dict(os.environ, LXCRI_CONFIG=str(conf))
        base = [lxcri, "--root", str(root)]
        samples: Dict[str, List[float]] = {k: [] for k in (
            "run", "first_instruction", "boot", "create", "start_to_exit", "rss_mib", "hwm_mib")}

        def call(*args: str, base: List[str] = base, env: Dict[str, str] = env) -> None:
            # (base and env bound here: this accelerator's.)
            # Files, not pipes: a created container's monitor keeps the caller's stdio.
            with tempfile.TemporaryFile("w+") as err:
                proc = subprocess.run([*base, *args], env=env, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=err, text=True,
                                      timeout=TIMEOUT)
                err.seek(0)
                if proc.returncode != 0:
                    raise BenchError(f"vm row: lxcri {' '.join(args)} exited "
                                     f"{proc.returncode}: {err.read().strip()}")

        try:
            for i in range(rounds):
                id = f"{PREFIX}vm-{accel}-{i}"
                t0 = time.monotonic()
                call("run", "--runtime", "vm", "--bundle", str(bundle), id)
                samples["run"].append(time.monotonic() - t0)
                _reap()
                t0 = time.monotonic()
                call("create", "--runtime", "vm", "--bundle", str(bundle), id)
                samples["create"].append(time.monotonic() - t0)
                state_dir = root / ".lxcri" / "vm" / id
                boot = json.loads((state_dir / "boot.json").read_text())
                samples["first_instruction"].append(float(boot["to_first_instruction"]))
                samples["boot"].append(float(boot["qemu_to_hello"]))
                qemu = int((state_dir / "qemu").read_text().split()[0])
                samples["rss_mib"].append((_status_kb(qemu, "VmRSS") or 0) / 1024)
                samples["hwm_mib"].append((_status_kb(qemu, "VmHWM") or 0) / 1024)
                t0 = time.monotonic()
                call("start", id)
                while not (state_dir / "exit").exists():
                    if time.monotonic() - t0 > TIMEOUT:
                        raise BenchError(f"vm row: {id} did not exit")
                    time.sleep(0.01)
                samples["start_to_exit"].append(time.monotonic() - t0)
                call("delete", "--force", id)
                _reap()
        finally:
            for id in os.listdir(root / ".lxcri" / "vm") if (root / ".lxcri" / "vm").is_dir() else []:
                subprocess.run([*base, "delete", "--force", id], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=TIMEOUT)
            _reap()
        results[accel] = {"samples": samples,
                          "median": {k: statistics.median(v) for k, v in samples.items() if v}}
    return results


def format_vm(results: Dict[str, Any]) -> str:
    if "skipped" in results:
        return f"vm row skipped: {results['skipped']}"
    lines = ["vm backend (report only): `lxcri run --runtime vm` of /bin/true, medians"]
    for accel, r in results.items():
        m = r["median"]
        n = len(r["samples"]["run"])
        lines.append(
            f"  {accel:<4} run {m['run']:.2f} s | to first instruction {m['first_instruction']:.2f} s"
            f" | boot (QEMU start -> agent hello) {m['boot']:.2f} s | create {m['create']:.2f} s"
            f" | start -> exit {m['start_to_exit']:.2f} s | QEMU RSS {m['rss_mib']:.0f} MiB"
            f" (peak {m['hwm_mib']:.0f}) | n={n}")
    return "\n".join(lines)
