"""Jobs in their own image: the container runtime of the local engine.

`LOCAL_ENGINE_RUNTIME` picks how a job runs: `podman` or `docker` run it in
the image its spec names, `bwrap` on the host's file system in a bubblewrap
sandbox (runs/engine/local/sandbox/), and `auto` (the default) takes podman,
then Docker, then bubblewrap, remembering why it fell back so that each job's
log can say so.

A container is given the same world a sandbox describes (`Sandbox`: argv,
environment, mounts, network) and nothing more:

- its own user namespace: root inside is uid 100000 on the host, so the
  folders it writes (/workspace, /outputs and what is mounted in them) are
  handed to that uid before it starts; the worker, host root, still reads,
  commits and removes what it wrote;
- only its own environment: values go to the engine's client process by
  name (`--env NAME`), never on a command line other users can read, and the
  client does not pass on its own environment;
- no network (`--network=none`) when the cluster disallows it, else a
  slirp4netns user-mode network that cannot reach the host's loopback
  addresses, where Redis, PostgreSQL and the dashboard listen: under a root
  worker the one host-mode jobs get, the network the worker keeps for the
  job's workflow, joined with `--network=ns:PATH` (sandbox/network.py says
  why podman does not make it), else podman's own
  `slirp4netns:allow_host_loopback=false`;
- capabilities dropped to those an image's package manager needs, no new
  privileges, podman's seccomp profile without the 32-bit system call ABIs
  (`seccomp_profile_64bit`), a size-bounded /tmp, and cgroup limits on
  memory, CPUs and processes (`Limits`).

Each attempt's container has a name of its own (`gw-<job log id>-<attempt>`)
so that cancel, timeout and lost-job recovery stop the container itself, not
just the client process attached to it. Memory is detected as the cause of a
kill from the cgroup podman is told to put the container under
(`--cgroup-parent`): its peak reached the limit. Docker keeps the container
until it has been inspected instead.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import resource
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from runs.engine.local.gpus import gpu_flags
from runs.engine.local.sandbox import WORKING_DIRECTORY, Limits, Sandbox
from runs.engine.local.sandbox.cgroups import CGROUP_ROOT

logger = logging.getLogger(__name__)

RUNTIMES = ("auto", "podman", "docker", "bwrap")
CONTAINERS_CONF = Path(__file__).with_name("containers.conf")
# Container root is this host uid; the range is what `--uidmap` lends the container.
MAPPED_ROOT = 100_000
MAPPED_RANGE = 65_536
# What an image's package manager needs (apt, pip); everything else is dropped.
CAPABILITIES = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID")
# podman's client is a Go program that, once its container runs, only waits for
# it (the job's output does not pass through it): one thread, and no garbage
# collection below this heap, cut the CPU of each podman run by about a tenth
# (~15 of ~150 ms, bench/engine.py's fan-out).
CLIENT_GO_RUNTIME = {"GOMAXPROCS": "1", "GOGC": "off", "GOMEMLIMIT": "256MiB"}
# The worker's settings that say which engine its client talks to and where
# that engine keeps its images: a Docker daemon's address (a rootless or
# remote daemon's socket, its TLS) and podman's storage configuration. Every
# call of the client gets them and, of the rest of the worker's environment,
# only PATH: the probe, the pull and the run reach the same engine and store.
ENGINE_SETTINGS = (
    "DOCKER_HOST",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
    "CONTAINERS_STORAGE_CONF",
)
# Names the engine's client reads itself: a job's value for one of them is
# passed on the command line rather than through the client's environment,
# where it would change which engine the client talks to, or how.
CLIENT_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "TMPDIR",
        "XDG_RUNTIME_DIR",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "CONTAINERS_CONF",
        "CONTAINERS_REGISTRIES_CONF",
        "REGISTRY_AUTH_FILE",
        "CONTAINER_HOST",
        "CONTAINER_CONNECTION",
        "DOCKER_CONFIG",
        "DOCKER_CONTEXT",
        "DOCKER_TLS",
        "DOCKER_API_VERSION",
        "GODEBUG",
        *ENGINE_SETTINGS,
        *CLIENT_GO_RUNTIME,
    }
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CGROUP_PARENT = "gradient"
# The seccomp profiles podman reads by default, the administrator's first (containers-common).
SECCOMP_PROFILES = (
    Path("/etc/containers/seccomp.json"),
    Path("/usr/share/containers/seccomp.json"),
)
# Exit status of a container whose main process was killed by SIGKILL.
KILLED = 137


class RuntimeUnavailable(RuntimeError):
    """The runtime LOCAL_ENGINE_RUNTIME names cannot run jobs here; the message says why."""


@dataclass(frozen=True)
class Runtime:
    """How jobs run: the engine's name, its client's argv prefix, and why bwrap was chosen."""

    name: str
    engine: tuple[str, ...] = ()
    reason: str = ""

    @property
    def in_container(self) -> bool:
        return self.name in ("podman", "docker")

    @property
    def docker(self) -> bool:
        return self.name == "docker"


def runtime_choice() -> Runtime:
    """The runtime this worker uses, per LOCAL_ENGINE_RUNTIME (probed once per process)."""
    return _runtime_choice(settings.LOCAL_ENGINE_RUNTIME, settings.LOCAL_ENGINE_IMAGE_STORE)


@functools.cache
def _runtime_choice(wanted: str, store: str) -> Runtime:
    wanted = (wanted or "auto").strip().lower()
    if wanted not in RUNTIMES:
        raise RuntimeUnavailable(
            f'LOCAL_ENGINE_RUNTIME is "{wanted}"; use one of {", ".join(RUNTIMES)}'
        )
    if wanted == "bwrap":
        return Runtime("bwrap", reason="LOCAL_ENGINE_RUNTIME=bwrap")
    problems = []
    for name in ("podman", "docker") if wanted == "auto" else (wanted,):
        problem = _probe(name, store)
        if problem is None:
            return Runtime(name, engine=engine_command(name, store))
        problems.append(problem)
    if wanted != "auto":
        raise RuntimeUnavailable(f"LOCAL_ENGINE_RUNTIME={wanted}, but {problems[0]}")
    reason = "LOCAL_ENGINE_RUNTIME=auto found no container engine: " + "; ".join(problems)
    logger.warning("the local engine runs jobs on the host with bubblewrap: %s", reason)
    return Runtime("bwrap", reason=reason)


def engine_environment() -> dict[str, str]:
    """The environment every call of the engine's client starts from (ENGINE_SETTINGS).

    Docker's client gets an empty configuration folder of its own: the host's
    ~/.docker/config.json would otherwise send some calls to another context's
    daemon, copy its proxies (and their passwords) into every job, and lend
    its registry logins. A pull with a team's login names its own folder.
    """
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
    env.update((name, os.environ[name]) for name in ENGINE_SETTINGS if name in os.environ)
    if env.get("DOCKER_TLS_VERIFY") and "DOCKER_CERT_PATH" not in env:
        env["DOCKER_CERT_PATH"] = os.path.expanduser("~/.docker")
    env["DOCKER_CONFIG"] = str(_empty_client_config(str(settings.DATA_DIR)))
    return env


@functools.cache
def _empty_client_config(data_dir: str) -> Path:
    """A folder holding a config.json with nothing in it (podman, too, reads the file)."""
    folder = Path(data_dir) / "engine-client"
    folder.mkdir(mode=0o700, exist_ok=True)
    (folder / "config.json").write_text("{}\n")
    return folder


def engine_command(name: str, store: str = "") -> tuple[str, ...]:
    """The engine client's argv prefix; for podman with a `store`, everything it keeps is there."""
    if name == "docker":
        return (shutil.which("docker"),)
    engine = [shutil.which("podman")]
    # crun fails on hosts with the cgroup v1 hybrid layout; runc runs there and elsewhere.
    runc = shutil.which("runc") or shutil.which("runc", path="/usr/sbin:/sbin")
    if runc:
        engine.append(f"--runtime={runc}")
    if store:
        folder = Path(store)
        engine += ["--root", str(folder / "storage"), "--runroot", str(folder / "run")]
        # Without it podman keeps state in the host-wide /run/libpod, shared with every store.
        engine += ["--tmpdir", str(folder / "tmp")]
    return tuple(engine)


def _probe(name: str, store: str) -> str | None:
    """None when `name` can run containers here, else why not."""
    if not shutil.which(name):
        return f"{name} is not installed"
    check = [*engine_command(name, store), "info", "--format", "{{json .}}"]
    try:
        answer = subprocess.run(
            check, capture_output=True, text=True, timeout=30, env=engine_environment()
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"`{name} info` failed: {error}"
    if answer.returncode != 0:
        last = (answer.stderr.strip().splitlines() or ["no answer"])[-1]
        return f"`{name} info` failed: {last}"
    return None


def _ulimit(kind: int, ceiling: int) -> int:
    """A ulimit the container may have: the host's own soft limit, at most `ceiling`.

    Raising a limit above the engine's own is refused on some hosts, so the
    container gets what the worker has.
    """
    soft, _ = resource.getrlimit(kind)
    return ceiling if soft == resource.RLIM_INFINITY else min(soft, ceiling)


def _pid_max() -> int:
    """The kernel's highest process id: runc refuses an nproc limit above it."""
    try:
        return int(Path("/proc/sys/kernel/pid_max").read_text())
    except (OSError, ValueError):
        return 32_768


def _mount(source: Path, target: str, read_only: bool) -> str:
    for text in (str(source), target):
        if "," in text or "=" in text:
            raise RuntimeUnavailable(f'the path "{text}" cannot be mounted into a container')
    return f"type=bind,source={source},target={target}" + (",readonly" if read_only else "")


def seccomp_profile_64bit() -> Path | None:
    """Podman's default seccomp profile without the 32-bit system call ABIs; None when podman
    has no profile file (it then applies the one built into it).

    The default also admits each architecture's 32-bit ABIs (x86 and x32 beside
    x86-64, arm beside arm64), and runc compiles the filter for every ABI at every
    container start: a fifth of the CPU a podman run costs here (bench/engine.py).
    Jobs run 64-bit programs; the 32-bit ABIs, an old source of kernel bugs, stay
    closed. The profile is written once per process, beside the server's data
    (again should it go).
    """
    profile = _seccomp_profile_64bit(str(settings.DATA_DIR))
    if profile is not None and not profile.exists():
        _seccomp_profile_64bit.cache_clear()
        profile = _seccomp_profile_64bit(str(settings.DATA_DIR))
    return profile


@functools.cache
def _seccomp_profile_64bit(data_dir: str) -> Path | None:
    source = next((path for path in SECCOMP_PROFILES if path.is_file()), None)
    if source is None:
        return None
    try:
        profile = json.loads(source.read_text())
    except (OSError, ValueError) as error:
        logger.warning("containers keep podman's own seccomp profile: %s: %s", source, error)
        return None
    for architecture in profile.get("archMap") or []:
        architecture["subArchitectures"] = []
    target = Path(data_dir) / "seccomp-64bit.json"
    with tempfile.NamedTemporaryFile("w", dir=data_dir, delete=False, suffix=".tmp") as file:
        json.dump(profile, file)
    os.chmod(file.name, 0o644)
    os.replace(file.name, target)
    return target


def host_network_sysfs() -> list[str]:
    """The sysfs folders that show the host's network interfaces (addresses, counters)."""
    folders = {"/sys/class/net"}
    with contextlib.suppress(OSError):
        for name in os.listdir("/sys/class/net"):
            folders.add(os.path.dirname(os.path.realpath(f"/sys/class/net/{name}")))
    return sorted(folder for folder in folders if "," not in folder and "=" not in folder)


def container_name(log_id: str, attempt: int) -> str:
    return f"gw-{log_id}-{attempt}"


@dataclass
class Container:
    """One attempt of one job in its image; `command` is what starts it."""

    runtime: Runtime
    name: str
    image: str
    sandbox: Sandbox
    limits: Limits
    gpu_devices: tuple[int, ...] = ()
    # The network namespace of the job's group (GroupNetwork), when the worker made one.
    network_namespace: str | None = None

    @property
    def cgroup(self) -> str:
        return f"/{CGROUP_PARENT}/{self.name}"

    def environment(self) -> tuple[list[str], dict[str, str]]:
        """`--env` arguments and the client's environment that carries their values."""
        client = engine_environment()
        if not self.runtime.docker:
            # Docker's client copies the job's output itself: it keeps Go's defaults.
            client.update(CLIENT_GO_RUNTIME)
        if self.network_namespace and self.sandbox.network:
            client["CONTAINERS_CONF"] = str(CONTAINERS_CONF)
        args = []
        job_env = {"HOME": WORKING_DIRECTORY, "LANG": "C.UTF-8", **self.sandbox.env}
        for name, value in job_env.items():
            if _ENV_NAME.match(name) and name not in CLIENT_NAMES:
                client[name] = value
                args += ["--env", name]
            else:
                args += ["--env", f"{name}={value}"]
        return args, client

    def command(self) -> tuple[list[str], dict[str, str]]:
        """The engine's `run` argv, and the environment to start it with."""
        sandbox, limits = self.sandbox, self.limits
        args = [*self.runtime.engine, "run", "--init", "--name", self.name, "--pull=never"]
        args += ["--label", "gradient.engine=local", "--hostname", sandbox.hostname]
        if self.runtime.docker:
            args.append("--network=" + ("bridge" if sandbox.network else "none"))
        else:
            args += ["--rm", "--log-driver=passthrough", "--cgroup-parent", self.cgroup]
            args += [f"--uidmap=0:{MAPPED_ROOT}:{MAPPED_RANGE}"]
            args += [f"--gidmap=0:{MAPPED_ROOT}:{MAPPED_RANGE}"]
            loopback = "true" if settings.LOCAL_ENGINE_ALLOW_HOST_LOOPBACK else "false"
            network = f"slirp4netns:allow_host_loopback={loopback}" if sandbox.network else "none"
            if sandbox.network and self.network_namespace:
                network = f"ns:{self.network_namespace}"
                # runc cannot mount a sysfs for a network namespace the container's
                # user namespace does not own and binds the host's: hide its interfaces.
                for folder in host_network_sysfs():
                    args += ["--mount", f"type=tmpfs,destination={folder},ro,notmpcopyup"]
            args.append(f"--network={network}")
        profile = seccomp_profile_64bit()
        if profile is not None:
            args.append(f"--security-opt=seccomp={profile}")
        # One flag per capability: Docker, unlike podman, reads no list in one.
        args += ["--cap-drop=ALL", *(f"--cap-add={name}" for name in CAPABILITIES)]
        args += ["--security-opt=no-new-privileges"]
        if limits.memory:
            args += [f"--memory={limits.memory}", f"--memory-swap={limits.memory}"]
        if limits.cpus:
            args.append(f"--cpus={limits.cpus:g}")
        if limits.pids:
            args.append(f"--pids-limit={limits.pids}")
        nofile = _ulimit(resource.RLIMIT_NOFILE, 65_536)
        # RLIMIT_NPROC counts per user namespace, so per container: the pids limit fits it.
        nproc = _ulimit(resource.RLIMIT_NPROC, limits.pids or _pid_max())
        args += [f"--ulimit=nofile={nofile}:{nofile}", f"--ulimit=nproc={nproc}:{nproc}"]
        # exec spelled out: Docker, unlike podman, makes a tmpfs noexec unless told.
        args.append(f"--tmpfs=/tmp:rw,exec,nosuid,nodev,size={limits.tmp},mode=1777")
        args += gpu_flags(self.runtime.name, self.gpu_devices)
        args += ["--workdir", WORKING_DIRECTORY]
        args += ["--mount", _mount(sandbox.workdir, WORKING_DIRECTORY, read_only=False)]
        for target in sorted(sandbox.writable, key=len):
            args += ["--mount", _mount(sandbox.writable[target], target, read_only=False)]
        for target in sorted(sandbox.read_only, key=len):
            args += ["--mount", _mount(sandbox.read_only[target], target, read_only=True)]
        env_args, client_env = self.environment()
        args += env_args
        return [*args, self.image, *sandbox.argv], client_env

    def hand_over_folders(self) -> None:
        """Give the container's root the folders it writes (they were made by host root)."""
        if self.runtime.docker:
            return
        folders = [self.sandbox.workdir, *self.sandbox.writable.values()]
        for folder in folders:
            os.chown(folder, MAPPED_ROOT, MAPPED_ROOT)
        for path in self.sandbox.read_only.values():
            # Helpers the worker wrote for the job (scripts, git credentials) are
            # private to it; the job must be able to read them as its root.
            if path.is_file() and path.stat().st_uid == 0 and not path.stat().st_mode & 0o004:
                os.chown(path, MAPPED_ROOT, MAPPED_ROOT)
            elif path.is_dir() and path.stat().st_uid == 0 and not path.stat().st_mode & 0o005:
                for inner in [path, *path.rglob("*")]:
                    os.chown(inner, MAPPED_ROOT, MAPPED_ROOT, follow_symlinks=False)

    def signal(self, name: str) -> None:
        """Send SIGname to the container's processes (nothing when it has already ended)."""
        subprocess.run(
            [*self.runtime.engine, "kill", "--signal", name, self.name],
            capture_output=True,
            timeout=30,
            env=engine_environment(),
        )

    def out_of_memory(self, code: int) -> bool:
        """Whether the container's exit `code` was the kernel's OOM killer at the limit."""
        if code != KILLED or not self.limits.memory:
            return False
        if self.runtime.docker:
            answer = subprocess.run(
                [*self.runtime.engine, "inspect", "--format", "{{.State.OOMKilled}}", self.name],
                capture_output=True,
                text=True,
                env=engine_environment(),
            )
            return answer.stdout.strip() == "true"
        peak = _cgroup_peak(self.cgroup)
        return peak is not None and peak >= self.limits.memory

    def remove(self) -> None:
        """Remove the container if it is still there, and the cgroups made for it."""
        if self.runtime.docker:
            subprocess.run(
                [*self.runtime.engine, "rm", "-f", self.name],
                capture_output=True,
                env=engine_environment(),
            )
            return
        # conmon may still be in its cgroup for a moment after the client
        # returns: what cannot go now goes when this process's next job ends.
        for cgroup in [*_cgroups_left, self.cgroup]:
            if cgroup in _cgroups_left:
                _cgroups_left.remove(cgroup)
            if not _cgroup_remove(cgroup):
                _cgroups_left.append(cgroup)


# Cgroups of this process's ended containers that were still busy when they ended.
_cgroups_left: list[str] = []


def _cgroup_remove(cgroup: str) -> bool:
    """Remove the folders of `cgroup` (one per controller on cgroup v1, one on v2, and
    conmon's inside); False when some are still in use."""
    relative = cgroup.lstrip("/")
    folders = [*CGROUP_ROOT.glob(f"*/{relative}"), CGROUP_ROOT / relative]
    removed = True
    for folder in folders:
        for inner in sorted(folder.glob("**/"), key=lambda p: len(p.parts), reverse=True):
            try:
                inner.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                removed = False
    return removed


def _cgroup_peak(cgroup: str) -> int | None:
    """The highest memory use under `cgroup` (cgroup v1 or v2), None when unknown."""
    for path in (
        CGROUP_ROOT / "memory" / cgroup.lstrip("/") / "memory.max_usage_in_bytes",
        CGROUP_ROOT / cgroup.lstrip("/") / "memory.peak",
    ):
        with contextlib.suppress(OSError, ValueError):
            return int(path.read_text())
    return None


def container_remove_by_name(runtime: Runtime, name: str) -> None:
    """Stop and remove a container a lost worker left running (nothing when it is gone)."""
    wait = [] if runtime.docker else ["--time", "0"]
    subprocess.run(
        [*runtime.engine, "rm", "-f", *wait, name], capture_output=True, env=engine_environment()
    )
