"""A local stand-in for the Kubernetes API: what the Argo engine uses, over real HTTP.

A threaded HTTP server on 127.0.0.1 (a free port) answering, in any namespace:

- ``argoproj.io/v1alpha1`` workflows: create (name or generateName), get,
  list (with a label selector and the list's resourceVersion), watch
  (resourceVersion, timeoutSeconds, bookmarks; chunked JSON lines), merge
  patch, delete;
- Secrets: create, get, replace, merge patch, delete;
- pod logs: ``container``, ``timestamps``, ``sinceTime`` and ``follow``.

Errors are Kubernetes Status objects with the real codes (404, 409, 410 as a
watch ERROR event, 400 for a JSON patch given an object). The tests can drop
every open watch or log stream, and compact the event history so that a
watch resuming from an older resourceVersion gets 410 Gone.
"""

from __future__ import annotations

import copy
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import yaml

WORKFLOWS = "/apis/argoproj.io/v1alpha1/namespaces/"
CORE = "/api/v1/namespaces/"


def now_rfc3339(nanos: bool = False) -> str:
    moment = datetime.now(UTC)
    if nanos:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}123Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def flag(query: dict, name: str) -> bool:
    """A boolean query parameter as the API server reads it (Go's strconv.ParseBool)."""
    return query.get(name, "") in ("1", "t", "T", "true", "TRUE", "True")


def _selected(obj: dict, selector: str) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, (part.strip() for part in selector.split(","))):
        if "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key.rstrip("=")) != value:
                return False
        elif term not in labels:
            return False
    return True


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def status(self) -> dict:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }


@dataclass
class PodLog:
    """A pod's main container output, as it is written."""

    lines: list[tuple[str, str]] = field(default_factory=list)
    started: bool = True
    finished: bool = False


class KubeStandIn:
    """The server and its store; every method is safe to call from any thread."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.revision = 0
        self.workflows: dict[tuple[str, str], dict] = {}
        self.secrets: dict[tuple[str, str], dict] = {}
        self.pods: dict[tuple[str, str], PodLog] = {}
        self.events: list[tuple[int, str, str, dict]] = []
        self.compacted_to = 0
        self.generation = 0
        self.expiry = 0
        self.requests: list[tuple[str, str, str]] = []
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> str:
        standin = self

        class Handler(_Handler):
            store = standin

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self.url

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.drop_streams()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def write_kubeconfig(self, path: Path, context: str = "standin") -> Path:
        """A kubeconfig whose context points at this server (no TLS, a bearer token)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "standin", "cluster": {"server": self.url}}],
            "users": [{"name": "engine", "user": {"token": "standin-token"}}],
            "contexts": [
                {"name": context, "context": {"cluster": "standin", "user": "engine"}},
                {"name": "other", "context": {"cluster": "standin", "user": "engine"}},
            ],
            "current-context": "other",
        }
        path.write_text(yaml.safe_dump(config))
        return path

    # -- test controls -------------------------------------------------------------

    def drop_streams(self) -> None:
        """End every open watch and log stream, as a restarted API server would."""
        with self.cond:
            self.generation += 1
            self.cond.notify_all()

    def expire_watches(self) -> None:
        """Send 410 Gone on every open watch (its history is gone), as a lagging cache does."""
        with self.cond:
            self.expiry += 1
            self.compacted_to = self.revision
            self.events.clear()
            self.cond.notify_all()

    def compact(self) -> None:
        """Forget the event history: a watch from an older resourceVersion gets 410 Gone."""
        with self.cond:
            self.compacted_to = self.revision
            self.events.clear()
            self.generation += 1
            self.cond.notify_all()

    def workflow(self, namespace: str, name: str) -> dict | None:
        with self.cond:
            found = self.workflows.get((namespace, name))
            return copy.deepcopy(found) if found else None

    def workflow_names(self, namespace: str) -> list[str]:
        with self.cond:
            return [name for ns, name in self.workflows if ns == namespace]

    def put_secret(self, namespace: str, body: dict) -> None:
        with self.cond:
            self._store_object(self.secrets, namespace, body, "ADDED", record=False)

    def secret(self, namespace: str, name: str) -> dict | None:
        with self.cond:
            found = self.secrets.get((namespace, name))
            return copy.deepcopy(found) if found else None

    def update_workflow(self, namespace: str, name: str, change) -> dict:
        """Apply ``change(obj)`` to a stored workflow (the controller's writes), with an event."""
        with self.cond:
            obj = copy.deepcopy(self.workflows[(namespace, name)])
            change(obj)
            return self._store_object(self.workflows, namespace, obj, "MODIFIED")

    def delete_workflow(self, namespace: str, name: str) -> None:
        with self.cond:
            obj = self.workflows.pop((namespace, name))
            self._event("DELETED", namespace, obj)

    def pod_start(self, namespace: str, name: str) -> None:
        with self.cond:
            self.pods[(namespace, name)] = PodLog()
            self.cond.notify_all()

    def pod_print(self, namespace: str, name: str, *texts: str) -> None:
        with self.cond:
            pod = self.pods[(namespace, name)]
            for text in texts:
                pod.lines.append((now_rfc3339(nanos=True), text))
                time.sleep(0.0001)
            self.cond.notify_all()

    def pod_finish(self, namespace: str, name: str) -> None:
        with self.cond:
            self.pods[(namespace, name)].finished = True
            self.cond.notify_all()

    def pod_lines(self, namespace: str, name: str) -> list[str]:
        with self.cond:
            return [text for _, text in self.pods[(namespace, name)].lines]

    # -- the store -----------------------------------------------------------------

    def _event(self, kind: str, namespace: str, obj: dict) -> None:
        self.events.append((self.revision, kind, namespace, copy.deepcopy(obj)))
        self.cond.notify_all()

    def _store_object(self, table, namespace, obj, kind, record=True) -> dict:
        self.revision += 1
        obj = copy.deepcopy(obj)
        metadata = obj.setdefault("metadata", {})
        metadata["namespace"] = namespace
        metadata["resourceVersion"] = str(self.revision)
        table[(namespace, metadata["name"])] = obj
        if record:
            self._event(kind, namespace, obj)
        return copy.deepcopy(obj)

    def handle(self, method: str, path: str, query: dict, body, content_type: str):
        """(status, object) for an ordinary request; raises ApiError."""
        with self.cond:
            if path.startswith(WORKFLOWS) and "/workflows" in path:
                namespace, rest = path[len(WORKFLOWS) :].split("/workflows", 1)
                return self._workflows(
                    method, namespace, rest.strip("/"), query, body, content_type
                )
            if path.startswith(CORE) and "/secrets" in path:
                namespace, rest = path[len(CORE) :].split("/secrets", 1)
                return self._secrets(method, namespace, rest.strip("/"), body, content_type)
        raise ApiError(404, "NotFound", f"the server could not find the requested resource {path}")

    def _create(self, table, namespace, body, kind_name):
        metadata = body.setdefault("metadata", {})
        if not metadata.get("name"):
            if not metadata.get("generateName"):
                raise ApiError(422, "Invalid", "name or generateName is required")
            metadata["name"] = metadata["generateName"] + secrets.token_hex(3)[:5]
        if (namespace, metadata["name"]) in table:
            raise ApiError(409, "AlreadyExists", f'{kind_name} "{metadata["name"]}" already exists')
        metadata["uid"] = str(uuid.uuid4())
        metadata["creationTimestamp"] = now_rfc3339()
        metadata["generation"] = 1
        return 201, self._store_object(table, namespace, body, "ADDED")

    def _patched(self, table, namespace, name, body, content_type, kind_name):
        current = table.get((namespace, name))
        if current is None:
            raise ApiError(404, "NotFound", f'{kind_name} "{name}" not found')
        if "json-patch" in content_type:
            if not isinstance(body, list):
                raise ApiError(
                    400,
                    "BadRequest",
                    "json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp",
                )
            raise ApiError(415, "UnsupportedMediaType", "the stand-in takes merge patches only")
        return 200, self._store_object(table, namespace, merge_patch(current, body), "MODIFIED")

    def _workflows(self, method, namespace, name, query, body, content_type):
        kind = "workflows.argoproj.io"
        if not name:
            if method == "POST":
                return self._create(self.workflows, namespace, body, kind)
            items = [
                copy.deepcopy(obj)
                for (ns, _), obj in sorted(self.workflows.items())
                if ns == namespace and _selected(obj, query.get("labelSelector", ""))
            ]
            return 200, {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "WorkflowList",
                "metadata": {"resourceVersion": str(self.revision)},
                "items": items,
            }
        if method == "GET":
            found = self.workflows.get((namespace, name))
            if found is None:
                raise ApiError(404, "NotFound", f'{kind} "{name}" not found')
            return 200, copy.deepcopy(found)
        if method == "PATCH":
            return self._patched(self.workflows, namespace, name, body, content_type, kind)
        if method == "DELETE":
            if (namespace, name) not in self.workflows:
                raise ApiError(404, "NotFound", f'{kind} "{name}" not found')
            self.delete_workflow(namespace, name)
            return 200, {"kind": "Status", "status": "Success"}
        raise ApiError(405, "MethodNotAllowed", method)

    def _secrets(self, method, namespace, name, body, content_type):
        if not name:
            if method == "POST":
                return self._create(self.secrets, namespace, body, "secrets")
            raise ApiError(405, "MethodNotAllowed", method)
        current = self.secrets.get((namespace, name))
        if method == "GET":
            if current is None:
                raise ApiError(404, "NotFound", f'secrets "{name}" not found')
            return 200, copy.deepcopy(current)
        if method == "PUT":
            if current is None:
                raise ApiError(404, "NotFound", f'secrets "{name}" not found')
            body["metadata"]["uid"] = current["metadata"]["uid"]
            return 200, self._store_object(self.secrets, namespace, body, "MODIFIED")
        if method == "PATCH":
            return self._patched(self.secrets, namespace, name, body, content_type, "secrets")
        if method == "DELETE":
            self.secrets.pop((namespace, name), None)
            return 200, {"kind": "Status", "status": "Success"}
        raise ApiError(405, "MethodNotAllowed", method)

    # -- streams -------------------------------------------------------------------

    def watch_events(self, namespace: str, query: dict):
        """Watch events as JSON-able dicts, until the timeout or a dropped stream."""
        since = int(query.get("resourceVersion") or 0)
        selector = query.get("labelSelector", "")
        deadline = time.monotonic() + float(query.get("timeoutSeconds") or 30)
        bookmarks = flag(query, "allowWatchBookmarks")
        with self.cond:
            generation = self.generation
            expiry = self.expiry
            too_old = bool(since) and since < self.compacted_to
            if not since:
                since = self.revision
            compacted_to = self.compacted_to
        if too_old:
            gone = ApiError(410, "Expired", f"too old resource version: {since} ({compacted_to})")
            yield {"type": "ERROR", "object": gone.status()}
            return
        last_bookmark = time.monotonic()
        while True:
            with self.cond:
                expired = self.expiry != expiry
            if expired:
                gone = ApiError(410, "Expired", "too old resource version")
                yield {"type": "ERROR", "object": gone.status()}
                return
            with self.cond:
                pending = [
                    (revision, kind, obj)
                    for revision, kind, ns, obj in self.events
                    if revision > since and ns == namespace and _selected(obj, selector)
                ]
                if not pending:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self.generation != generation:
                        return
                    self.cond.wait(min(remaining, 0.2))
                    if self.generation != generation:
                        return
                    pending = [
                        (revision, kind, obj)
                        for revision, kind, ns, obj in self.events
                        if revision > since and ns == namespace and _selected(obj, selector)
                    ]
                current = self.revision
            for revision, kind, obj in pending:
                since = revision
                yield {"type": kind, "object": copy.deepcopy(obj)}
            if bookmarks and time.monotonic() - last_bookmark > 1.0:
                last_bookmark = time.monotonic()
                since = max(since, current)
                yield {
                    "type": "BOOKMARK",
                    "object": {
                        "kind": "Workflow",
                        "apiVersion": "argoproj.io/v1alpha1",
                        "metadata": {"resourceVersion": str(current)},
                    },
                }

    def log_lines(self, namespace: str, pod: str, query: dict):
        """Log lines (bytes), following the pod while it runs when asked to."""
        follow = flag(query, "follow")
        stamps = flag(query, "timestamps")
        since = query.get("sinceTime", "")
        sent = 0
        with self.cond:
            generation = self.generation
        while True:
            with self.cond:
                log = self.pods.get((namespace, pod))
                lines = log.lines[sent:]
                finished = log.finished
                dropped = self.generation != generation
            for stamp, text in lines:
                sent += 1
                if since and stamp[:19] < since[:19]:
                    continue
                yield (f"{stamp} {text}\n" if stamps else f"{text}\n").encode()
            if not follow or finished or dropped:
                return
            with self.cond:
                if (
                    len(self.pods[(namespace, pod)].lines) == sent
                    and not self.pods[(namespace, pod)].finished
                    and self.generation == generation
                ):
                    self.cond.wait(0.2)

    def check_log(self, namespace: str, pod: str, query: dict) -> None:
        if query.get("container") not in (None, "main"):
            raise ApiError(400, "BadRequest", f"container {query['container']} is not valid")
        with self.cond:
            log = self.pods.get((namespace, pod))
        if log is None:
            raise ApiError(404, "NotFound", f'pods "{pod}" not found')
        if not log.started:
            raise ApiError(
                400, "BadRequest", f'container "main" in pod "{pod}" is waiting to start'
            )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    store: KubeStandIn

    def log_message(self, format, *args) -> None:
        return

    def _send_json(self, code: int, obj) -> None:
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _stream(self, content_type: str, pieces) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            for piece in pieces:
                self._chunk(piece)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def _handle(self, method: str) -> None:
        parsed = urlparse(self.path)
        query = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "")
        self.store.requests.append((method, parsed.path, content_type))
        if self.headers.get("Authorization") != "Bearer standin-token":
            self._send_json(401, ApiError(401, "Unauthorized", "Unauthorized").status())
            return
        try:
            body = json.loads(raw) if raw else None
            path = parsed.path
            if method == "GET" and flag(query, "watch"):
                namespace = path[len(WORKFLOWS) :].split("/workflows", 1)[0]
                events = self.store.watch_events(namespace, query)
                self._stream(
                    "application/json",
                    (json.dumps(event).encode() + b"\n" for event in events),
                )
                return
            if method == "GET" and path.startswith(CORE) and path.endswith("/log"):
                namespace, rest = path[len(CORE) :].split("/pods/", 1)
                pod = rest[: -len("/log")]
                self.store.check_log(namespace, pod, query)
                self._stream("text/plain", self.store.log_lines(namespace, pod, query))
                return
            code, obj = self.store.handle(method, path, query, body, content_type)
            self._send_json(code, obj)
        except ApiError as error:
            self._send_json(error.code, error.status())

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")
