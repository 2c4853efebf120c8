"""Private container registries: the credentials a job's image pull needs, and nothing more.

A team keeps its registries (name, server, username, password) as
ContainerRegistry rows; a spec names them with
``resources.container-registries: [NAME]``. The password is stored encrypted
like secret values and leaves the database only as a ``RegistryCredentials``
(whose repr hides it) on its way to one of two places:

- the local engine: ``registry_auth_file`` writes the containers-auth.json /
  Docker config.json file in a private temporary folder (0700, the file
  0600) for the pull and removes the folder afterwards, so credentials are
  never on a command line, in the environment of the job, or in a log;
- Argo: a ``kubernetes.io/dockerconfigjson`` Secret (``dockerconfig_json``
  gives its content) named in the Workflow's ``imagePullSecrets``.

This module imports nothing from the ORM, so the engines can use it as it is.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

AUTH_FILE_NAME = "config.json"
"""podman takes any path (``--authfile``); Docker reads DOCKER_CONFIG/config.json."""
DOCKER_HUB = "docker.io"
# Docker itself files Docker Hub credentials under this key, podman under docker.io.
DOCKER_HUB_LEGACY = "https://index.docker.io/v1/"
NAME_MAX = 200
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SERVER = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._/-]+)?$")


class RegistryInvalid(ValueError):
    """A registry field that cannot be used; ``field`` names it."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class RegistryCredentials:
    """One registry's login, decrypted for a pull; the password never shows in a repr."""

    name: str
    server: str
    username: str
    password: str = field(repr=False)

    @property
    def auth(self) -> str:
        """The ``auth`` value of an auth file: base64 of ``username:password``."""
        return base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


def registry_name_checked(name: object) -> str:
    if not isinstance(name, str) or not name or len(name) > NAME_MAX or not _NAME.match(name):
        raise RegistryInvalid(
            "a registry name is 1 to 200 letters, digits, '.', '_' or '-', starting with a "
            'letter or digit, like "ghcr"',
            field="name",
        )
    return name


def registry_server_checked(server: object) -> str:
    """The server as image names spell it: a host, an optional port and path, no scheme."""
    if not isinstance(server, str) or not server.strip():
        raise RegistryInvalid('a registry needs a server, like "ghcr.io"', field="server")
    server = server.strip()
    if "://" in server:
        raise RegistryInvalid(
            f'write the server without "{server.split("://", 1)[0]}://", as in image names, '
            'like "registry.example.com:5000"',
            field="server",
        )
    server = server.rstrip("/")
    if len(server) > 255 or not _SERVER.match(server):
        raise RegistryInvalid(
            'the server is a host name with an optional port and path, like "ghcr.io" or '
            '"registry.example.com:5000"',
            field="server",
        )
    return server


def registry_username_checked(username: object) -> str:
    if not isinstance(username, str) or not username or len(username) > 200:
        raise RegistryInvalid(
            "a registry needs a username of 1 to 200 characters", field="username"
        )
    if ":" in username or any(ch.isspace() for ch in username):
        raise RegistryInvalid("a registry username has no ':' and no spaces", field="username")
    return username


def registry_password_checked(password: object) -> str:
    if not isinstance(password, str) or not password:
        raise RegistryInvalid("a registry needs a non-empty password or token", field="password")
    if len(password) > 8192:
        raise RegistryInvalid("a registry password is at most 8192 characters", field="password")
    return password


def dockerconfig_json(registries: Iterable[RegistryCredentials]) -> str:
    """The auth file's text: ``{"auths": {SERVER: {"auth": …}}}``; the first of a server wins."""
    auths: dict[str, dict[str, str]] = {}
    for registry in registries:
        entry = {"auth": registry.auth}
        auths.setdefault(registry.server, entry)
        if registry.server == DOCKER_HUB:
            auths.setdefault(DOCKER_HUB_LEGACY, entry)
    return json.dumps({"auths": auths}, indent=1)


@contextmanager
def registry_auth_file(
    registries: Iterable[RegistryCredentials], *, parent: Path | None = None
) -> Iterator[Path]:
    """An auth file for these registries in a private temporary folder, removed on exit.

    The folder is made by mkdtemp (mode 0700) and the file is created with
    mode 0600 before anything is written to it, so no other user can read
    it at any moment. Pass ``--authfile PATH`` to podman, or
    ``DOCKER_CONFIG=PATH.parent`` to Docker.
    """
    folder = Path(tempfile.mkdtemp(prefix="gradient-auth-", dir=parent))
    try:
        os.chmod(folder, 0o700)
        path = folder / AUTH_FILE_NAME
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(dockerconfig_json(registries))
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)
