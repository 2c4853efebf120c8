"""slirp4netns: the user-mode network a job with network on gets, without the host's loopback.

A root worker makes a job's network before the job (launchers.py says why),
and keeps it for the next jobs of the same *group* (the executor's group is
the job's workflow) in the same worker process: a `GroupNetwork` is a
namespace held by `unshare --net` and configured by slirp4netns
(`UserModeNetwork`). A host-mode job's launcher joins it with `nsenter`, a
container with podman's `--network=ns:`, so podman makes and tears down no
namespace of its own (podman 4.3 left each one it made mounted under
/run/netns, and thousands of those made every new namespace on the machine
slow).

Keeping it is what makes a dependency hop cheap: making a namespace, starting
slirp4netns in it and the kernel's teardown of the namespace cost about a
quarter of the CPU a host-mode job took, on a machine whose two cores a
chain of jobs keeps busy. A worker process keeps the networks of the few
groups it ran last (`KEPT_GROUPS`), and one made ahead, never used, that
the next new group takes. The jobs of one group run one after another in a
worker process (one job at a time), and a job cannot change the namespace
it leaves to the next: it was made by the worker's root, outside any user
namespace, so neither a host-mode job's unprivileged user nor a
container's namespaced root holds a capability over its interfaces, routes
or firewall. A host-mode job's processes all end with it (its pid
namespace); a container its engine could not be made to stop takes its
group's network with it (executor.py). What a job can see or leave of the
jobs before it stays within its group: their closed connections (TIME_WAIT,
a minute), late replies to their UDP that slirp4netns still delivers, and
slirp4netns itself, a user-mode TCP/IP stack running as root that lives as
long as the network (one a job crashes is replaced for the next). TCP
metrics, which would keep every destination the group's jobs reached, are
not saved in the namespace, where the worker may set that (not where
/proc/sys is read-only, as in most containers).

The holder's `cat` reads a pipe only the worker writes, and slirp4netns
exits when its exit fd closes, so neither outlives the worker.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from django.conf import settings

from runs.engine.local.sandbox.base import NETWORK_UP_SECONDS, SandboxUnavailable, program
from runs.engine.local.sandbox.spares import Spares


def slirp_command() -> list[str]:
    command = [program("slirp4netns", "slirp4netns"), "--configure", "--mtu=65520"]
    command += ["--enable-sandbox", "--enable-seccomp"]
    if not settings.LOCAL_ENGINE_ALLOW_HOST_LOOPBACK:
        command.append("--disable-host-loopback")
    return command


def slirp_start(command: list[str], target: str) -> tuple[subprocess.Popen, int, int, IO[bytes]]:
    """slirp4netns serving `target` (pid or namespace path), its ready and exit fds, its errors.

    slirp4netns writes "1" to the ready fd once the namespace is configured,
    and exits when the exit fd closes: when the job is done, or the worker dies.
    """
    ready_read, ready_write = os.pipe()
    exit_read, exit_write = os.pipe()
    # A file, not a pipe: slirp4netns must never block on a full pipe nobody reads.
    errors = tempfile.TemporaryFile()
    try:
        network = subprocess.Popen(
            [*command, f"--ready-fd={ready_write}", f"--exit-fd={exit_read}", target, "tap0"],
            env={},
            pass_fds=(ready_write, exit_read),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,
        )
    except BaseException:
        for fd in (ready_read, exit_write):
            os.close(fd)
        errors.close()
        raise
    finally:
        os.close(ready_write)
        os.close(exit_read)
    return network, ready_read, exit_write, errors


def slirp_failure(errors: IO[bytes]) -> SandboxUnavailable:
    errors.seek(0)
    problem = errors.read().decode(errors="replace").strip()
    return SandboxUnavailable(f"slirp4netns could not give the job its network: {problem}")


@dataclass
class UserModeNetwork:
    """slirp4netns configuring the network namespace of `holder`, made for one job."""

    slirp: subprocess.Popen
    ready_fd: int | None
    # slirp4netns exits when this closes: in `release`, or when the worker dies.
    exit_fd: int | None
    errors: IO[bytes]

    @classmethod
    def serve(cls, holder: subprocess.Popen) -> UserModeNetwork:
        namespace = f"/proc/{holder.pid}/ns/net"
        # slirp4netns must not configure the worker's own network: wait for the new one.
        own = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + NETWORK_UP_SECONDS
        while _link_or_empty(namespace) in ("", own):
            if holder.poll() is not None or time.monotonic() > deadline:
                raise SandboxUnavailable("unshare could not make the job's network namespace")
            time.sleep(0.0005)
        # slirp4netns's own sandbox unmounts the old root of a mount namespace it
        # makes, only the root of which it makes private: on its own, that unmount
        # would reach the worker's shared sandbox slots (ready.py) and empty the
        # running jobs' folders. It starts where every mount is private already.
        private = [program("unshare", "util-linux"), "--mount", "--propagation", "private", "--"]
        command = [*private, *slirp_command(), "--netns-type=path"]
        return cls(*slirp_start(command, namespace))

    def alive(self) -> bool:
        return self.slirp.poll() is None

    def wait_ready(self) -> None:
        """Block until slirp4netns has configured the namespace; raise if it could not."""
        if self.ready_fd is None:
            return
        try:
            ready = os.read(self.ready_fd, 1)
        finally:
            os.close(self.ready_fd)
            self.ready_fd = None
        if ready != b"1":
            self.slirp.wait()
            raise slirp_failure(self.errors)

    def release(self) -> None:
        """Let slirp4netns go; it is reaped later, off the next job's path."""
        for fd in (self.ready_fd, self.exit_fd):
            if fd is not None:
                os.close(fd)
        self.ready_fd = self.exit_fd = None
        self.errors.close()


# Run inside a new namespace, before `cat` holds it: TCP metrics (every destination
# a job reached, readable by any later job) are not kept there. Where /proc/sys is
# read-only (a worker in a container) the namespace is held all the same.
HOLDER_SCRIPT = "echo 1 > /proc/sys/net/ipv4/tcp_no_metrics_save; exec cat"
# The networks of the groups a worker process ran last that it keeps.
KEPT_GROUPS = 4


@dataclass
class GroupNetwork:
    """A namespace held by `unshare --net … cat` and served by slirp4netns, for one group's jobs."""

    holder: subprocess.Popen
    network: UserModeNetwork

    @classmethod
    def make(cls) -> GroupNetwork:
        holder = subprocess.Popen(
            [program("unshare", "util-linux"), "--net", "--", program("sh", "dash")]
            + ["-c", HOLDER_SCRIPT],
            env={},
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            return cls(holder, UserModeNetwork.serve(holder))
        except BaseException:
            holder.stdin.close()
            raise

    @property
    def namespace(self) -> str:
        return f"/proc/{self.holder.pid}/ns/net"

    def alive(self) -> bool:
        return not self.holder.stdin.closed and self.holder.poll() is None and self.network.alive()

    def wait_ready(self) -> None:
        self.network.wait_ready()

    def release(self) -> None:
        """Let slirp4netns and the holder go; a job or sandbox still in it is left offline."""
        if not self.holder.stdin.closed:
            self.network.release()
            self.holder.stdin.close()


class GroupNetworks:
    """The networks of this worker process's last few groups, and one made ahead for a new one."""

    def __init__(self) -> None:
        # Oldest first: the first one goes when more than KEPT_GROUPS are kept.
        self._kept: dict[str, GroupNetwork] = {}
        # The network the next new group takes, made after a job once the last one was taken.
        self._fresh: Spares[None, GroupNetwork] = Spares(lambda _: GroupNetwork.make())

    def join(self, group: str | None) -> GroupNetwork | None:
        """The group's network: the one kept if it is whole, else the one made ahead, else
        new; None for no group (a job with network off)."""
        if group is None:
            return None
        network = self._kept.pop(group, None)
        if network is not None and not network.alive():
            network.release()
            network = None
        if network is None:
            network = self._fresh.take(None)
        self._kept[group] = network
        while len(self._kept) > KEPT_GROUPS:
            self._kept.pop(next(iter(self._kept))).release()
        return network

    def forget(self, group: str) -> None:
        """Let the group's network go: its next job gets a new one."""
        network = self._kept.pop(group, None)
        if network is not None:
            network.release()

    def prepare(self) -> None:
        """After a job: make the network a new group takes, once the last one was taken."""
        self._fresh.prepare_taken()

    def release_all(self) -> None:
        """Let every network go (its worker process is stopping), and make no more."""
        self._fresh.release_all()
        while self._kept:
            self._kept.popitem()[1].release()


# The networks this worker process's jobs with network on join (a root worker only).
group_networks = GroupNetworks()


def rootless_network(child: int, sandbox: subprocess.Popen) -> UserModeNetwork | None:
    """slirp4netns serving a rootless sandbox's network namespace, once configured.

    None when bwrap ended before its namespace was up: its output says why.
    """
    # bwrap brings `lo` up inside the namespace after reporting its pid; slirp4netns
    # configures `lo` too, and whichever comes second fails: wait for bwrap's.
    deadline = time.monotonic() + NETWORK_UP_SECONDS
    fib = Path(f"/proc/{child}/net/fib_trie")
    while b"127.0.0.1" not in _read_or_empty(fib):
        if sandbox.poll() is not None:
            return None
        if time.monotonic() > deadline:
            raise SandboxUnavailable("the job's network namespace did not come up")
        time.sleep(0.005)
    # The network namespace belongs to the job's user namespace; join that first.
    command = [*slirp_command(), f"--userns-path=/proc/{child}/ns/user"]
    network = UserModeNetwork(*slirp_start(command, str(child)))
    try:
        network.wait_ready()
    except BaseException:
        network.release()
        raise
    return network


def _link_or_empty(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def _read_or_empty(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""
