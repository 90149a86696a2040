"""The two ways lxcri drives Proxmox CTs: the REST API (proxmoxer, API token) and `pct`.

Both offer the same small set of CT operations to lxcri.backends.lxc.proxmox.driver. Every
failure becomes a ProxmoxError carrying Proxmox's own message; the API token's
secret lives only inside proxmoxer's auth object and never reaches a message, a
repr or the debug output (redact() is applied to everything that is printed).
"""
from __future__ import annotations

import os

from lxcri.errors import BackendUnavailable, LxcriError, ProxmoxError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

class Secret:
    """A string that never shows itself: repr/str print a placeholder."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __reduce__(self) -> Any:  # never pickled into a helper process's traceback
        raise TypeError("a Secret cannot be pickled")


def redact(text: str, secret: Optional[Secret]) -> str:
    if secret is not None and secret.reveal():
        text = text.replace(secret.reveal(), "***")
    return text


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


class Clock:
    """Time for task polling; tests substitute one that does not sleep."""

    def __init__(self) -> None:
        import time

        self.now: Callable[[], float] = time.monotonic
        self.sleep: Callable[[float], None] = time.sleep


# --- the REST API ----------------------------------------------------------------------------

def parse_endpoint(endpoint: str) -> Tuple[str, int]:
    """"https://host:8006", "host:8006" or "host" -> (host, port). proxmoxer speaks https only."""
    from urllib.parse import urlsplit

    text = endpoint.strip()
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme != "https":
        raise LxcriError(f"[runtimes.lxc.proxmox] endpoint {endpoint!r}: the Proxmox API is "
                         "served over https; write https://HOST:8006 or just HOST")
    try:
        port = parts.port or 8006
    except ValueError:
        raise LxcriError(f"[runtimes.lxc.proxmox] endpoint {endpoint!r}: bad port") from None
    if not parts.hostname:
        raise LxcriError(f"[runtimes.lxc.proxmox] endpoint {endpoint!r}: no host name")
    host = parts.hostname
    return (f"[{host}]" if ":" in host else host), port


class ApiTransport:
    """PVE's REST API through proxmoxer with an API token; long operations return a UPID
    (a task) that is polled to completion."""

    kind = "api"

    def __init__(self, endpoint: str, node: str, token_id: str, secret: Secret, *,
                 verify_ssl: bool = True, template_storage: str = "local",
                 task_timeout: float = 300, poll_interval: float = 0.5,
                 clock: Optional[Clock] = None,
                 debug: Optional[Callable[[str], None]] = None) -> None:
        self.host, self.port = parse_endpoint(endpoint)
        self.node = node
        if token_id.count("!") != 1 or "@" not in token_id.split("!")[0]:
            raise LxcriError(f"[runtimes.lxc.proxmox] token_id {token_id!r}: write it as "
                             "USER@REALM!TOKENNAME, e.g. lxcri@pve!runtime")
        self.user, self.token_name = token_id.split("!")
        self._secret = secret
        self.verify_ssl = verify_ssl
        self.template_storage = template_storage
        self.task_timeout = task_timeout
        self.poll_interval = poll_interval
        self.clock = clock or Clock()
        self._debug = debug
        self._api: Any = None

    def __repr__(self) -> str:
        return f"ApiTransport(https://{self.host}:{self.port}, node={self.node!r})"

    def describe(self) -> str:
        return f"Proxmox API https://{self.host}:{self.port} node {self.node}"

    def _log(self, text: str) -> None:
        if self._debug is not None:
            self._debug(redact(text, self._secret))

    def _client(self) -> Any:
        if self._api is None:
            import importlib.util

            # proxmoxer's https backend calls sys.exit(1) when requests is missing.
            for module in ("requests", "proxmoxer"):
                if importlib.util.find_spec(module) is None:
                    raise BackendUnavailable(
                        f"{module} is not installed: pip install 'lxcri[proxmox]'")
            from proxmoxer import ProxmoxAPI

            self._api = ProxmoxAPI(
                f"{self.host}:{self.port}", backend="https", service="PVE", user=self.user,
                token_name=self.token_name, token_value=self._secret.reveal(),
                verify_ssl=self.verify_ssl, timeout=max(30, int(self.task_timeout)))
        return self._api

    def _call(self, method: str, path: str, **params: Any) -> Any:
        """One API request; every failure becomes a ProxmoxError with Proxmox's message."""
        api = self._client()
        shown = {k: ("<file>" if hasattr(v, "read") else v) for k, v in params.items()}
        self._log(f"proxmox: {method} {path} {shown if shown else ''}".rstrip())
        try:
            resource = api(path.lstrip("/"))
            result = getattr(resource, method.lower())(**params)
        except Exception as exc:  # proxmoxer, requests and ssl errors alike
            raise self._error(exc, method, path) from None
        self._log(f"proxmox: -> {_one_line(repr(result), 200)}")
        return result

    def _error(self, exc: Exception, method: str, path: str) -> ProxmoxError:
        from proxmoxer.core import ResourceException

        where = f"https://{self.host}:{self.port}"
        if isinstance(exc, ResourceException):
            # PVE puts its message in the HTTP reason phrase; parameter errors come as a dict.
            message = str(exc.content or exc.status_message)
            if exc.errors:
                errors = exc.errors
                if isinstance(errors, dict):
                    errors = "; ".join(f"{k}: {v}" for k, v in sorted(errors.items()))
                message = f"{message} ({errors})"
            text = f"Proxmox API {method} {path}: {exc.status_code} {message}"
            if exc.status_code == 401:
                text += "; check token_id and the token secret, and that the token is not expired"
            elif exc.status_code == 403:
                text += "; the API token lacks a privilege (see `lxcri` docs on Proxmox tokens)"
            return ProxmoxError(redact(_one_line(text), self._secret))
        name = type(exc).__name__
        text = f"cannot reach the Proxmox API at {where} ({name}: {_one_line(str(exc), 200)})"
        if "SSL" in name or "CERTIFICATE" in str(exc).upper():
            text += ("; install the cluster's CA on this host, or set verify_ssl = false "
                     "in [runtimes.lxc.proxmox] for a self-signed certificate")
        return ProxmoxError(redact(_one_line(text, 600), self._secret))

    # -- tasks --------------------------------------------------------------------------------

    def wait_task(self, upid: Any, what: str) -> None:
        """Poll a task until it stops; a failed task raises with its exit status."""
        if not isinstance(upid, str) or not upid.startswith("UPID:"):
            return  # a synchronous call: nothing to wait for
        node = upid.split(":")[1] or self.node
        deadline = self.clock.now() + self.task_timeout
        path = f"/nodes/{node}/tasks/{upid}/status"
        while True:
            status = self._call("GET", path) or {}
            if status.get("status") == "stopped":
                exit_status = str(status.get("exitstatus", ""))
                if exit_status == "OK" or exit_status.startswith("WARNINGS"):
                    return
                raise ProxmoxError(_one_line(
                    f"Proxmox task {what} failed: {exit_status or 'no exit status'} "
                    f"(task {upid})"))
            if self.clock.now() >= deadline:
                raise ProxmoxError(
                    f"Proxmox task {what} did not finish within {self.task_timeout:g} s "
                    f"(task {upid}, still {status.get('status', 'unknown')}); it may still "
                    "complete: check the node's task log, raise task_timeout in "
                    "[runtimes.lxc.proxmox]")
            self.clock.sleep(self.poll_interval)

    # -- CT operations ------------------------------------------------------------------------

    def version(self) -> Optional[Tuple[int, ...]]:
        data = self._call("GET", "/version") or {}
        parts = []
        for piece in str(data.get("version", "")).split("."):
            digits = "".join(ch for ch in piece if ch.isdigit())
            if not digits:
                break
            parts.append(int(digits))
        return tuple(parts) or None

    def next_vmid(self) -> int:
        return int(self._call("GET", "/cluster/nextid"))

    def create(self, vmid: int, template: str, options: Dict[str, Any],
               env: Sequence[str], entrypoint: Optional[Sequence[str]]) -> None:
        """Upload the packed rootfs as a CT template, create the CT from it, drop the
        template (the CT's rootfs is a copy)."""
        name = os.path.basename(template)
        volid = f"{self.template_storage}:vztmpl/{name}"
        with open(template, "rb") as f:
            upid = self._call("POST", f"/nodes/{self.node}/storage/{self.template_storage}/upload",
                              content="vztmpl", filename=f)
        self.wait_task(upid, f"upload of template {volid}")
        try:
            params = dict(options, vmid=vmid, ostemplate=volid)
            if entrypoint is not None:
                import shlex

                params["entrypoint"] = shlex.join(entrypoint)
                if env:
                    params["env"] = "\0".join(env)
            upid = self._call("POST", f"/nodes/{self.node}/lxc", **params)
            self.wait_task(upid, f"create CT {vmid}")
        finally:
            self.remove_template(volid)

    def remove_template(self, volid: str) -> None:
        from urllib.parse import quote

        # The volume id holds ':' and '/': one path segment, percent-encoded as the GUI does.
        path = f"/nodes/{self.node}/storage/{self.template_storage}/content/{quote(volid, safe='')}"
        try:
            upid = self._call("DELETE", path)
            self.wait_task(upid, f"removal of template {volid}")
        except ProxmoxError as exc:
            # Not fatal: the CT is complete; the admin can remove the file in the GUI.
            self._log(f"proxmox: leaving template {volid} behind: {exc.message}")

    def status(self, vmid: int) -> Dict[str, Any]:
        return dict(self._call("GET", f"/nodes/{self.node}/lxc/{vmid}/status/current") or {})

    def config(self, vmid: int) -> Dict[str, Any]:
        return dict(self._call("GET", f"/nodes/{self.node}/lxc/{vmid}/config") or {})

    def _status_action(self, vmid: int, action: str, **params: Any) -> None:
        upid = self._call("POST", f"/nodes/{self.node}/lxc/{vmid}/status/{action}", **params)
        self.wait_task(upid, f"{action} CT {vmid}")

    def start(self, vmid: int) -> None:
        self._status_action(vmid, "start")

    def stop(self, vmid: int) -> None:
        self._status_action(vmid, "stop")

    def shutdown(self, vmid: int, timeout: int) -> None:
        self._status_action(vmid, "shutdown", timeout=timeout, forceStop=1)

    def destroy(self, vmid: int) -> None:
        upid = self._call("DELETE", f"/nodes/{self.node}/lxc/{vmid}", purge=1,
                          **{"destroy-unreferenced-disks": 1})
        self.wait_task(upid, f"destroy CT {vmid}")

    def set_options(self, vmid: int, options: Dict[str, Any]) -> None:
        self._call("PUT", f"/nodes/{self.node}/lxc/{vmid}/config", **options)


# --- pct on the node ------------------------------------------------------------------------

class PctTransport:
    """`pct` on a PVE node: synchronous commands (pct runs the task in the foreground)."""

    kind = "pct"

    def __init__(self, pct: str, pve_dir: str, *, task_timeout: float = 300,
                 debug: Optional[Callable[[str], None]] = None) -> None:
        self.pct = pct
        self.pve_dir = pve_dir
        self.task_timeout = task_timeout
        self._debug = debug
        self.node = os.uname().nodename

    def __repr__(self) -> str:
        return f"PctTransport({self.pct!r})"

    def describe(self) -> str:
        return f"pct {self.pct} on PVE node {self.node}"

    def run(self, args: Sequence[str], *, timeout: Optional[float] = None,
            check: bool = True) -> str:
        """The one choke point for pct: logs argv, raises ProxmoxError with pct's stderr."""
        import subprocess

        argv = [self.pct, *args]
        if self._debug is not None:
            self._debug("proxmox: " + " ".join(argv))
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=timeout or self.task_timeout)
        except FileNotFoundError:
            raise BackendUnavailable(f"{self.pct} not found: lxcri must run on a Proxmox VE "
                                     "node, or set endpoint in [runtimes.lxc.proxmox]") from None
        except subprocess.TimeoutExpired:
            raise ProxmoxError(f"`pct {' '.join(args[:2])}` did not finish within "
                               f"{self.task_timeout:g} s; raise task_timeout in "
                               "[runtimes.lxc.proxmox]") from None
        if check and proc.returncode != 0:
            lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
            message = lines[-1] if lines else f"exit status {proc.returncode}"
            raise ProxmoxError(_one_line(f"`pct {' '.join(args[:2])}` failed: {message}"))
        return proc.stdout

    def version(self) -> Optional[Tuple[int, ...]]:
        return None  # pct refuses options its PVE does not know, with its own message

    def next_vmid(self) -> int:
        """The lowest free VMID >= 100 per pmxcfs's .vmlist (what /cluster/nextid does too);
        a concurrent create that takes it first makes `pct create` fail, and lxcri retries."""
        import json

        try:
            with open(os.path.join(self.pve_dir, ".vmlist"), "rb") as f:
                used = {int(k) for k in (json.load(f).get("ids") or {})}
        except (OSError, ValueError) as exc:
            raise ProxmoxError(f"cannot read {self.pve_dir}/.vmlist to pick a VMID: {exc}") from None
        vmid = 100
        while vmid in used:
            vmid += 1
        return vmid

    def create(self, vmid: int, template: str, options: Dict[str, Any],
               env: Sequence[str], entrypoint: Optional[Sequence[str]]) -> None:
        """pct create takes the packed rootfs by path (allowed for root@pam). The init
        environment goes into the CT config as lxc.environment.runtime lines: argv cannot
        carry the NUL-separated `env` option."""
        args = ["create", str(vmid), template]
        for key, value in options.items():
            args += [f"--{key}", str(value)]
        if entrypoint is not None:
            import shlex

            args += ["--entrypoint", shlex.join(entrypoint)]
        self.run(args)
        if entrypoint is not None and env:
            conf = os.path.join(self.pve_dir, "lxc", f"{vmid}.conf")
            try:
                with open(conf, "a") as f:
                    f.write("".join(f"lxc.environment.runtime: {item}\n" for item in env))
            except OSError as exc:
                raise ProxmoxError(f"cannot add the environment to {conf}: {exc.strerror}") from None

    def status(self, vmid: int) -> Dict[str, Any]:
        out = self.run(["status", str(vmid), "--verbose"])
        return _parse_colon_lines(out)

    def config(self, vmid: int) -> Dict[str, Any]:
        return _parse_colon_lines(self.run(["config", str(vmid)]))

    def start(self, vmid: int) -> None:
        self.run(["start", str(vmid)])

    def stop(self, vmid: int) -> None:
        self.run(["stop", str(vmid)])

    def shutdown(self, vmid: int, timeout: int) -> None:
        self.run(["shutdown", str(vmid), "--timeout", str(timeout), "--forceStop", "1"],
                 timeout=timeout + self.task_timeout)

    def destroy(self, vmid: int) -> None:
        self.run(["destroy", str(vmid), "--purge", "1", "--destroy-unreferenced-disks", "1"])

    def set_options(self, vmid: int, options: Dict[str, Any]) -> None:
        args = ["set", str(vmid)]
        for key, value in options.items():
            args += [f"--{key}", str(value)]
        self.run(args)

    def remove_template(self, volid: str) -> None:
        pass  # pct create read the tarball from lxcri's own directory; the caller removes it


def _parse_colon_lines(text: str) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.startswith("#"):
            out.setdefault(key.strip(), value.strip())
    return out


def pct_exec_argv(pct: str, vmid: int, args: List[str], env: List[str], cwd: str) -> List[str]:
    """`pct exec` for an OCI process: env through env(1), cwd through sh, both in the CT."""
    argv = [pct, "exec", str(vmid), "--"]
    if env:
        argv += ["env", *env]
    if cwd and cwd != "/":
        argv += ["/bin/sh", "-c", 'cd "$0" && exec "$@"', cwd]
    return argv + args
