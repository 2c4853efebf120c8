"""The bubblewrap command that gives a job exactly its world and nothing else.

The job sees the host's system folders read-only, a private /tmp, its inputs
read-only at /inputs/NAME, its outputs writable at /outputs, a writable
working directory, and only the environment it was given. The root of its
file system is a read-only tmpfs, so it cannot create files outside /tmp,
/outputs and its working directory; the database, the secret key, the app's
files and other runs' data are simply not there.
"""

from __future__ import annotations

import functools
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

SYSTEM_FOLDERS = ("/usr", "/etc", "/opt/conda")
MERGED_USR_LINKS = ("bin", "sbin", "lib", "lib64", "lib32", "libx32")
WORKING_DIRECTORY = "/workspace"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class SandboxUnavailable(RuntimeError):
    """bubblewrap is not installed; the message says how to install it."""


@functools.cache
def bwrap_path() -> str:
    found = shutil.which("bwrap")
    if not found:
        raise SandboxUnavailable(
            "the local engine needs bubblewrap to run jobs; install it with "
            "`apt-get install -y bubblewrap` (make install does this on Debian and Ubuntu)"
        )
    return found


@dataclass
class Sandbox:
    """What a job may see; `command` turns it into a bwrap argv."""

    argv: list[str]
    env: dict[str, str]
    workdir: Path
    read_only: dict[str, Path] = field(default_factory=dict)
    writable: dict[str, Path] = field(default_factory=dict)
    network: bool = True
    hostname: str = "job"

    def command(self) -> list[str]:
        args = [bwrap_path(), "--unshare-all", "--die-with-parent", "--new-session"]
        if self.network:
            args.append("--share-net")
        args += ["--hostname", self.hostname, "--cap-drop", "ALL"]
        for folder in SYSTEM_FOLDERS:
            if os.path.isdir(folder):
                args += ["--ro-bind", folder, folder]
        for name in MERGED_USR_LINKS:
            host = Path("/", name)
            if host.is_symlink():
                args += ["--symlink", os.readlink(host), f"/{name}"]
            elif host.is_dir():
                args += ["--ro-bind", str(host), f"/{name}"]
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        args += ["--bind", str(self.workdir), WORKING_DIRECTORY]
        # Writable mounts first (/outputs), then what is mounted inside them.
        for target in sorted(self.writable, key=len):
            args += ["--bind", str(self.writable[target]), target]
        for target in sorted(self.read_only, key=len):
            args += ["--ro-bind", str(self.read_only[target]), target]
        args += ["--remount-ro", "/", "--chdir", WORKING_DIRECTORY, "--clearenv"]
        env = {"PATH": DEFAULT_PATH, "HOME": WORKING_DIRECTORY, "LANG": "C.UTF-8", **self.env}
        for name, value in env.items():
            args += ["--setenv", name, value]
        return [*args, "--", *self.argv]
