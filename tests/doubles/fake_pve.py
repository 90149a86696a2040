"""TEST DOUBLE: a small fake of the Proxmox VE REST API, for lxcri's unit tests only.

Proxmox cannot run on the machines that test lxcri, so this in-process HTTPS server
(stdlib http.server in a thread, a throwaway self-signed certificate made with the
openssl CLI) implements just the API paths lxcri's Proxmox driver calls:

    GET    /version, /cluster/nextid
    POST   /nodes/{node}/storage/{storage}/upload            (multipart, content=vztmpl)
    DELETE /nodes/{node}/storage/{storage}/content/{volid}
    POST   /nodes/{node}/lxc                                 (create from a template)
    GET    /nodes/{node}/lxc/{vmid}/status/current, .../config
    PUT    /nodes/{node}/lxc/{vmid}/config
    POST   /nodes/{node}/lxc/{vmid}/status/{start,stop,shutdown}
    DELETE /nodes/{node}/lxc/{vmid}
    GET    /nodes/{node}/tasks/{upid}/status

It is not Proxmox, but it refuses what Proxmox VE 9 refuses: every request it
receives is checked against PVE 9's published parameter schema (tests/doubles/
pve_schema.py, data in pve_api_schema.json) before anything else happens. A request
PVE would refuse is answered as PVE answers it (400 "Parameter verification failed."
with the parameter errors, or 501 for a path or method PVE does not have) AND kept in
`violations`, which the `pve` fixture asserts is empty at teardown: a test that
expects an error from the driver still fails when the error is a schema violation.

What it lets tests check: the shape of every request (method, path, parameters,
uploaded files), the Authorization header (`PVEAPIToken=USER@REALM!NAME=SECRET`),
task polling (each task reports "running" for `task_polls` polls before "stopped"),
and error paths: scripted failures come back the way PVE sends them (the message in
the HTTP reason phrase, parameter errors in "errors"), failed tasks end with their
message as exitstatus. Beyond the schema it knows nothing of what PVE would do with
a request.
"""
from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import threading
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, unquote, urlsplit

from doubles import pve_schema

_CERT_CACHE: Dict[str, Tuple[str, str]] = {}


def self_signed_cert(directory: str) -> Tuple[str, str]:
    """(cert, key) for CN=localhost, made once per directory with the openssl CLI."""
    if directory not in _CERT_CACHE:
        cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
        _CERT_CACHE[directory] = (cert, key)
    return _CERT_CACHE[directory]


class Request:
    """One request as the fake saw it."""

    def __init__(self, method: str, path: str, params: Dict[str, str], auth: Optional[str],
                 files: Dict[str, Tuple[str, bytes]], raw_path: Optional[str] = None) -> None:
        self.method = method
        self.path = path            # below /api2/json, percent-decoded
        self.raw_path = path if raw_path is None else raw_path  # below /api2/json, as sent
        self.params = params        # query and form fields (last value wins)
        self.auth = auth            # the Authorization header
        self.files = files          # multipart uploads: field -> (filename, bytes)

    def __repr__(self) -> str:
        return f"Request({self.method} {self.path} {sorted(self.params)})"


class FakePve:
    """The fake API's state; use as a context manager (starts and stops the server)."""

    def __init__(self, cert_dir: str, *, node: str = "pve1", token: str = "",
                 version: str = "9.1.2", task_polls: int = 2) -> None:
        self.node = node
        self.expected_auth = token          # the full Authorization header to accept
        self.version = version
        self.task_polls = task_polls
        self.requests: List[Request] = []
        self.schema = pve_schema.load()
        # Requests PVE 9 would have refused, with what it would have answered.
        self.violations: List[Tuple[Request, pve_schema.Refusal]] = []
        self.cts: Dict[int, Dict[str, Any]] = {}          # vmid -> {"status", "config", "pid"}
        self.storage: Dict[str, bytes] = {}               # volid -> content
        self.tasks: Dict[str, Dict[str, Any]] = {}        # upid -> {"polls", "exit", "apply"}
        self.next_id = 100
        # Scripted failures: (METHOD, path regex) -> (HTTP status, message[, errors dict]).
        self.fail: Dict[Tuple[str, str], Tuple[Any, ...]] = {}
        # Scripted task failures: task type (vzcreate, vzstart, ...) -> exit status.
        self.fail_task: Dict[str, str] = {}
        self.never_finish = False
        self._lock = threading.Lock()
        self._upids = 0
        cert, key = self_signed_cert(cert_dir)
        handler = _make_handler(self)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.endpoint = f"https://127.0.0.1:{self.port}"
        self._thread: Optional[threading.Thread] = None

    def __enter__(self) -> "FakePve":
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    # -- helpers for tests ---------------------------------------------------------------------

    def violation_report(self) -> str:
        return "requests Proxmox VE 9 would refuse:\n" + "\n".join(
            f"  {r.method} {r.raw_path} {r.params!r}: {refusal}" for r, refusal in self.violations)

    def calls(self, method: Optional[str] = None, pattern: str = "") -> List[Request]:
        return [r for r in self.requests
                if (method is None or r.method == method) and re.search(pattern, r.path)]

    def _upid(self, kind: str, ident: Any, apply: Any = None) -> str:
        with self._lock:
            self._upids += 1
            n = self._upids
        upid = f"UPID:{self.node}:{0x1000 + n:08X}:{n:08X}:{0x60000000 + n:08X}:{kind}:{ident}:lxcri@pve!runtime:"
        self.tasks[upid] = {"polls": self.task_polls, "exit": self.fail_task.get(kind, "OK"),
                            "apply": apply}
        return upid

    # -- the API -----------------------------------------------------------------------------

    def verify(self, request: Request) -> Optional[pve_schema.Refusal]:
        """PVE 9's parameter verification of one request; a refusal is also recorded.
        An uploaded file's field carries the file's name, which is what PVE checks."""
        params = dict(request.params)
        params.update({field: name for field, (name, _data) in request.files.items()})
        refusal = self.schema.check(request.method, request.raw_path, params)
        if refusal is not None:
            with self._lock:
                self.violations.append((request, refusal))
        return refusal

    def receive(self, request: Request) -> Tuple[int, str, Any, Any]:
        """Every request: checked against the schema (always, so a violation is recorded
        even when another error answers it), then authenticated, then handled."""
        refusal = self.verify(request)
        if self.expected_auth and request.auth != self.expected_auth:
            return 401, "invalid token value!", None, None  # PVE authenticates first
        if refusal is not None:
            return refusal.status, refusal.message, None, refusal.errors or None
        return self.handle(request.method, request.path, request.params, request.files)

    def handle(self, method: str, path: str, params: Dict[str, str],
               files: Dict[str, Tuple[str, bytes]]) -> Tuple[int, str, Any, Any]:
        """-> (status, reason, data, errors)."""
        for (fail_method, pattern), failure in self.fail.items():
            if fail_method == method and re.fullmatch(pattern, path):
                code, message = failure[0], failure[1]
                return code, message, None, (failure[2] if len(failure) > 2 else None)
        node = re.escape(self.node)
        m = re.fullmatch
        if method == "GET" and path == "/version":
            return 200, "OK", {"version": self.version, "release": self.version.rsplit(".", 1)[0]}, None
        if method == "GET" and path == "/cluster/nextid":
            vmid = self.next_id
            while vmid in self.cts:
                vmid += 1
            return 200, "OK", str(vmid), None
        hit = m(rf"/nodes/{node}/storage/([^/]+)/upload", path)
        if method == "POST" and hit:
            if params.get("content") != "vztmpl" or "filename" not in files:
                return 400, "Parameter verification failed.", None, {"filename": "missing"}
            name, data = files["filename"]
            volid = f"{hit.group(1)}:vztmpl/{name}"
            return 200, "OK", self._upid("imgcopy", "", lambda: self.storage.__setitem__(volid, data)), None
        hit = m(rf"/nodes/{node}/storage/([^/]+)/content/(.+)", path)
        if method == "DELETE" and hit:
            volid = hit.group(2)
            if volid not in self.storage:
                return 500, f"volume '{volid}' does not exist", None, None
            return 200, "OK", self._upid("imgdel", "", lambda: self.storage.pop(volid, None)), None
        if method == "POST" and path == f"/nodes/{self.node}/lxc":
            return self._create(params)
        hit = m(rf"/nodes/{node}/lxc/(\d+)(/.*)?", path)
        if hit:
            vmid, rest = int(hit.group(1)), hit.group(2) or ""
            ct = self.cts.get(vmid)
            if ct is None:
                return (500, f"Configuration file 'nodes/{self.node}/lxc/{vmid}.conf' does not "
                        "exist", None, None)
            return self._ct(method, vmid, rest, ct, params)
        hit = m(rf"/nodes/{node}/tasks/([^/]+)/status", path)
        if method == "GET" and hit:
            task = self.tasks.get(hit.group(1))
            if task is None:
                return 500, "no such task", None, None
            if self.never_finish or task["polls"] > 0:
                task["polls"] -= 1
                return 200, "OK", {"status": "running", "upid": hit.group(1)}, None
            if task["apply"] is not None and task["exit"] == "OK":
                task["apply"]()
                task["apply"] = None
            return 200, "OK", {"status": "stopped", "exitstatus": task["exit"]}, None
        return 501, f"Method '{method} {path}' not implemented", None, None

    def _create(self, params: Dict[str, str]) -> Tuple[int, str, Any, Any]:
        if "vmid" not in params or "ostemplate" not in params:
            return 400, "Parameter verification failed.", None, {"vmid": "property is missing"}
        vmid = int(params["vmid"])
        if vmid in self.cts:
            return 500, f"CT {vmid} already exists on node '{self.node}'", None, None
        if params["ostemplate"] not in self.storage:
            return 500, f"volume '{params['ostemplate']}' does not exist", None, None
        config = {k: v for k, v in params.items() if k not in ("vmid", "ostemplate")}

        def apply() -> None:
            self.cts[vmid] = {"status": "stopped", "config": config, "pid": None,
                              "template": params["ostemplate"]}

        return 200, "OK", self._upid("vzcreate", vmid, apply), None

    def _ct(self, method: str, vmid: int, rest: str, ct: Dict[str, Any],
            params: Dict[str, str]) -> Tuple[int, str, Any, Any]:
        if method == "GET" and rest == "/status/current":
            data = {"vmid": vmid, "status": ct["status"], "name": ct["config"].get("hostname")}
            if ct["status"] == "running" and ct["pid"]:
                data["pid"] = ct["pid"]
            return 200, "OK", data, None
        if method == "GET" and rest == "/config":
            return 200, "OK", dict(ct["config"]), None
        if method == "PUT" and rest == "/config":
            ct["config"].update(params)
            return 200, "OK", None, None
        action = re.fullmatch(r"/status/(start|stop|shutdown)", rest)
        if method == "POST" and action:
            verb = action.group(1)
            if verb == "start" and ct["status"] == "running":
                return 500, f"CT {vmid} already running", None, None

            def apply() -> None:
                ct["status"] = "running" if verb == "start" else "stopped"
                ct["pid"] = 4242 + vmid if verb == "start" else None

            return 200, "OK", self._upid(f"vz{verb}", vmid, apply), None
        if method == "DELETE" and rest == "":
            if ct["status"] == "running":
                return 500, f"CT {vmid} is running - destroy failed", None, None
            return 200, "OK", self._upid("vzdestroy", vmid, lambda: self.cts.pop(vmid, None)), None
        return 501, f"Method '{method} /lxc/{vmid}{rest}' not implemented", None, None


def _make_handler(fake: FakePve) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def _serve(self) -> None:
            url = urlsplit(self.path)
            raw_path = url.path
            prefix = "/api2/json"
            raw = raw_path[len(prefix):] if raw_path.startswith(prefix) else raw_path
            # Decode per segment, as PVE does: a %2F inside a volume id stays in its segment.
            path = "/".join(unquote(seg) for seg in raw.split("/"))
            params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            files: Dict[str, Tuple[str, bytes]] = {}
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            ctype = self.headers.get("Content-Type", "")
            if ctype.startswith("multipart/form-data"):
                msg = BytesParser(policy=HTTP).parsebytes(
                    b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
                for part in msg.iter_parts():
                    name = str(part.get_param("name", header="content-disposition"))
                    payload = part.get_payload(decode=True)
                    data = payload if isinstance(payload, bytes) else b""
                    filename = part.get_filename()
                    if filename:
                        files[name] = (filename, data)
                    else:
                        params[name] = data.decode()
            elif body:
                params.update({k: v[-1] for k, v in
                               parse_qs(body.decode(), keep_blank_values=True).items()})
            auth = self.headers.get("Authorization")
            request = Request(self.command, path, params, auth, files, raw_path=raw)
            fake.requests.append(request)
            status, reason, data, errors = fake.receive(request)
            doc: Dict[str, Any] = {"data": data}
            if errors:
                doc["errors"] = errors
            payload = json.dumps(doc).encode()
            self.send_response(status, reason)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return Handler
