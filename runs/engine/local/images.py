"""Container images for the local engine: names, mirrors, and pulls a person can watch.

A spec names an image the way Docker does (`bash:5`, `org/app`, `host:port/app:tag`);
`image_reference` spells it out in full (`docker.io/library/bash:5`) so that
podman never has to guess a registry for a short name and the name stored
locally is the same whichever mirror the image came through.

Mirrors (`LOCAL_ENGINE_REGISTRY_MIRRORS="docker.io=HOST:PORT,…"`) and insecure
registries reach podman through a registries.conf written for each pull into a
private temporary folder (`CONTAINERS_REGISTRIES_CONF`), so the host's own
configuration is neither read nor changed. Registries on loopback addresses
are plain HTTP, as Docker has it; any other one must be listed in
`LOCAL_ENGINE_INSECURE_REGISTRIES` to be reached without TLS.

A pull is a separate step before the job's container starts: its output is
parsed into log lines and a job detail ("pulling bash:5 — 2/4 layers"), and a
failed pull fails the job with the image's name and the registry's answer.
Docker reads mirrors and insecure registries from its daemon's configuration
only, so with Docker a mirrored image is pulled by its name on the mirror and
tagged with the name the spec gave.
"""

from __future__ import annotations

import ipaddress
import os
import re
import selectors
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from runs.engine.local.containers import engine_environment

DEFAULT_REGISTRY = "docker.io"
# How often at most the job detail changes during a pull: each change is an event.
DETAIL_INTERVAL_SECONDS = 0.5


class ImageError(Exception):
    """The image cannot be named or pulled; the message names it and says why."""


class PullStopped(Exception):
    """The job was canceled or timed out while its image was being pulled."""


@dataclass(frozen=True)
class ImageReference:
    """An image name spelled out: registry, repository, and tag or digest."""

    registry: str
    repository: str
    tag: str = "latest"
    digest: str | None = None

    @property
    def full(self) -> str:
        if self.digest:
            return f"{self.registry}/{self.repository}@{self.digest}"
        return f"{self.registry}/{self.repository}:{self.tag}"

    def on(self, registry: str) -> str:
        """The same image's name on another registry (a mirror)."""
        return ImageReference(registry, self.repository, self.tag, self.digest).full


_REFERENCE = re.compile(
    r"^(?P<name>[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[a-z0-9]+:[0-9a-fA-F]{32,}))?$"
)


def image_reference(image: str) -> ImageReference:
    """`bash:5` -> docker.io/library/bash:5, by Docker's rules for short names."""
    text = str(image).strip()
    first, _, rest = text.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, remainder = first, rest
    else:
        registry, remainder = DEFAULT_REGISTRY, text
    match = _REFERENCE.match(remainder)
    if not text or not match:
        raise ImageError(
            f'"{image}" is not an image name; write it as Docker does, e.g. bash:5, '
            "org/app:1.2 or registry.example.com:5000/app@sha256:…"
        )
    repository = match["name"]
    if registry == DEFAULT_REGISTRY and "/" not in repository:
        repository = f"library/{repository}"
    return ImageReference(registry, repository, match["tag"] or "latest", match["digest"])


def _host(registry: str) -> str:
    if registry.startswith("["):
        return registry[1 : registry.index("]")]
    return registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry


def is_loopback(registry: str) -> bool:
    host = _host(registry)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class RegistrySettings:
    """Where pulls go: mirrors per registry, and which registries speak plain HTTP."""

    mirrors: dict[str, tuple[str, ...]] = field(default_factory=dict)
    insecure: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls) -> RegistrySettings:
        mirrors: dict[str, list[str]] = {}
        for item in _items(settings.LOCAL_ENGINE_REGISTRY_MIRRORS):
            registry, equals, mirror = item.partition("=")
            if not equals or not registry.strip() or not mirror.strip():
                raise ImageError(
                    f'LOCAL_ENGINE_REGISTRY_MIRRORS: "{item}" is not REGISTRY=MIRROR '
                    "(e.g. docker.io=127.0.0.1:5000)"
                )
            mirrors.setdefault(registry.strip(), []).append(mirror.strip())
        return cls(
            mirrors={name: tuple(found) for name, found in mirrors.items()},
            insecure=frozenset(_items(settings.LOCAL_ENGINE_INSECURE_REGISTRIES)),
        )

    def plain_http(self, registry: str) -> bool:
        return is_loopback(registry) or registry in self.insecure

    def registries_conf(self, reference: ImageReference) -> str:
        """A registries.conf for pulling `reference`: its registry, its mirrors, nothing else."""
        lines = ['unqualified-search-registries = ["docker.io"]', 'short-name-mode = "disabled"']
        registries = {reference.registry, *self.mirrors, *self.insecure}
        for registry in sorted(registries):
            lines += [
                "",
                "[[registry]]",
                f'prefix = "{registry}"',
                f'location = "{_docker_hub(registry)}"',
                f"insecure = {_toml_bool(self.plain_http(registry))}",
            ]
            for mirror in self.mirrors.get(registry, ()):
                lines += [
                    "[[registry.mirror]]",
                    f'location = "{mirror}"',
                    f"insecure = {_toml_bool(self.plain_http(mirror))}",
                ]
        return "\n".join(lines) + "\n"

    def sources(self, reference: ImageReference) -> list[str]:
        """Where a pull of `reference` looks, in order: its mirrors, then its registry."""
        return [*self.mirrors.get(reference.registry, ()), reference.registry]


def _docker_hub(registry: str) -> str:
    # docker.io is an alias; the registry itself answers at registry-1.docker.io.
    return "registry-1.docker.io" if registry == DEFAULT_REGISTRY else registry


def _toml_bool(value: bool) -> str:
    return "true" if value else "false"


def _items(text: str) -> list[str]:
    return [item.strip() for item in str(text or "").split(",") if item.strip()]


class PullProgress:
    """Layers seen and finished, read from the pull's output lines (podman's or Docker's)."""

    _PODMAN_BLOB = re.compile(r"^Copying blob (?:sha256:)?([0-9a-f]+)(.*)$")
    _DOCKER_LAYER = re.compile(r"^([0-9a-f]{12,}): (.+)$")

    def __init__(self) -> None:
        self.layers: set[str] = set()
        self.done: set[str] = set()

    def feed(self, line: str) -> None:
        line = line.strip()
        blob = self._PODMAN_BLOB.match(line)
        if blob:
            self.layers.add(blob[1][:12])
            if "skipped" in blob[2] or "done" in blob[2]:
                self.done.add(blob[1][:12])
            return
        if line.startswith(("Copying config", "Writing manifest")):
            # podman copies layers in parallel and, without a terminal, reports
            # only when each starts; the config is copied once they have all ended.
            self.done |= self.layers
            return
        layer = self._DOCKER_LAYER.match(line)
        if layer:
            self.layers.add(layer[1][:12])
            if layer[2].startswith(("Pull complete", "Already exists")):
                self.done.add(layer[1][:12])

    def summary(self) -> str:
        if not self.layers:
            return "starting"
        return f"{len(self.done)}/{len(self.layers)} layers"


def _answer(output: list[str]) -> str:
    """The registry's answer in a failed pull's output: podman's `Error:` line, or the last."""
    for line in reversed(output):
        if line.startswith("Error"):
            return line.removeprefix("Error:").removeprefix("Error response from daemon:").strip()
    return output[-1].strip() if output else "no output"


def image_pull(
    *,
    engine: list[str],
    docker: bool,
    image: str,
    log: Callable[[str], None],
    detail: Callable[[str], None],
    tick: Callable[[], str | None],
    authfile: Path | None = None,
) -> float:
    """Pull `image` through the configured mirrors, telling the log and the job's detail;
    answers the seconds it took.

    `authfile` is a registry credentials file (Docker's config.json format) to
    pull with, written by the caller into a private folder.
    """
    reference = image_reference(image)
    registries = RegistrySettings.from_settings()
    sources = registries.sources(reference)
    log(f"pulling {reference.full} (from {', then '.join(sources)})")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gradient-pull-") as private:
        # A private HOME: no login of the host's own reaches the registry, only `authfile`.
        env = {**engine_environment(), "HOME": private}
        if docker:
            attempts = [reference.on(source) for source in sources]
            if authfile is not None:
                env["DOCKER_CONFIG"] = str(authfile.parent)
        else:
            conf = Path(private) / "registries.conf"
            conf.write_text(registries.registries_conf(reference))
            env["CONTAINERS_REGISTRIES_CONF"] = str(conf)
            attempts = [reference.full]
        failures = []
        for name in attempts:
            command = [*engine, "pull", name]
            if authfile is not None and not docker:
                command[len(engine) + 1 : len(engine) + 1] = ["--authfile", str(authfile)]
            output = _pull_once(command, env, image, log, detail, tick)
            if output is None:
                if docker and name != reference.full:
                    subprocess.run([*engine, "tag", name, reference.full], check=True, env=env)
                return time.monotonic() - started
            failures.append(_answer(output))
    answers = "; ".join(failures)
    raise ImageError(f'could not pull the image "{image}" ({reference.full}): {answers}')


def _pull_once(command, env, image, log, detail, tick) -> list[str] | None:
    """Run one pull; None when it worked, else its output lines.

    `tick` is called at least every quarter second (the job's heartbeat, and
    its cancel and timeout checks); a reason it returns stops the pull.
    """
    progress = PullProgress()
    output: list[str] = []
    shown = summary = ""
    last_detail = 0.0
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    pending = b""
    fd = process.stdout.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            ready = selector.select(timeout=0.25)
            chunk = os.read(fd, 1 << 16) if ready else None
            if chunk == b"":
                break
            *lines, pending = (pending + (chunk or b"")).split(b"\n")
            for raw in lines:
                line = raw.decode("utf-8", "replace").strip()
                if not line:
                    continue
                output.append(line)
                log(f"pull: {line}")
                progress.feed(line)
            summary = progress.summary()
            now = time.monotonic()
            if summary != shown and now - last_detail >= DETAIL_INTERVAL_SECONDS:
                shown, last_detail = summary, now
                detail(f"pulling {image} — {summary}")
            reason = tick()
            if reason:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise PullStopped(reason)
    code = process.wait()
    if code == 0:
        if progress.layers and summary != shown:
            detail(f"pulling {image} — {summary}")
        return None
    return output
