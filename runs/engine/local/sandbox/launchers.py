"""Launchers: a job's first process, made before the job, in its cgroups and its network.

A root worker used to start bwrap, move it into the job's cgroups, then make
its network: the move waits for an RCU grace period (cgroups.py says why),
slirp4netns took ~20 ms to configure the namespace and ~35 ms to go, and all
of it sat between one job's end and the next one's start (60 of the 74 ms a
dependency hop took, against ~8 ms before). Now a launcher is made ahead:

- a `bash` that waits for a command on its stdin (NUL-separated) and becomes
  it with `exec`; its stdout and stderr are the job's output pipe;
- put into the job's fresh cgroups as soon as it starts, so the job's bwrap
  and everything under it are born there and never move;
- for a job with network on, started by `nsenter` in its group's network
  (network.py), which slirp4netns configured while the worker did other
  things; the job's bwrap then runs without `--unshare-net`, in that network;
- the launcher of a sandbox made ahead (ready.py) becomes that sandbox's
  bwrap at once; that of any other job becomes the job's whole bwrap command
  when the job starts. A launcher and its cgroups serve one job only.

No process outlives the worker: a waiting launcher reads a pipe only the
worker writes and exits when it closes, and no namespace is mounted under
/run/netns. The cgroups of a killed worker's launchers stay until a pool
process starts (cgroups.py). A worker that is not root makes neither ahead
(bwrap.py starts it rootless).
"""

from __future__ import annotations

import resource
import subprocess
from dataclasses import dataclass

from runs.engine.local.sandbox.base import Limits, program
from runs.engine.local.sandbox.cgroups import JobCgroups
from runs.engine.local.sandbox.commands import nul_separated
from runs.engine.local.sandbox.network import GroupNetwork

# Reads the job's command (NUL-separated) and becomes it; with nothing to read
# (the worker died before giving it one) it just ends.
LAUNCHER_SCRIPT = 'mapfile -d "" -t argv; exec </dev/null; (( ${#argv[@]} )) && exec "${argv[@]}"'


@dataclass
class Launcher:
    """A waiting first process for one job, in its cgroups and (network on) its network."""

    process: subprocess.Popen
    cgroups: JobCgroups | None = None
    network: GroupNetwork | None = None

    @classmethod
    def make(cls, network: GroupNetwork | None, pass_fds: tuple[int, ...] = ()) -> Launcher:
        """A launcher, in `network` if given; `pass_fds` stay open in it and in what it becomes."""
        argv = [program("bash", "bash"), "-c", LAUNCHER_SCRIPT]
        if network is not None:
            argv = [program("nsenter", "util-linux"), f"--net={network.namespace}", "--", *argv]
        process = subprocess.Popen(
            argv,
            env={},
            pass_fds=pass_fds,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        launcher = cls(process=process, network=network)
        try:
            launcher.cgroups = JobCgroups.make()
            if launcher.cgroups is not None:
                launcher.cgroups.add(process.pid)
        except BaseException:
            launcher.release()
            raise
        return launcher

    def alive(self) -> bool:
        return self.process.poll() is None and (self.network is None or self.network.alive())

    def launch(
        self,
        command: list[str],
        limits: Limits,
        rlimits: list[tuple[int, int]],
        network_first: bool = True,
    ) -> subprocess.Popen:
        """Bound the cgroups and rlimits, wait for the network, and become `command`.

        The rlimits are set on the waiting launcher (prlimit(2)), so everything
        it becomes and starts inherits them without a prlimit program in between.
        Without `network_first`, `command` starts before the network is up,
        and must wait for it itself (ready.py).
        """
        if self.cgroups is not None:
            self.cgroups.limit(limits)
        for kind, value in rlimits:
            resource.prlimit(self.process.pid, kind, (value, value))
        if self.network is not None and network_first:
            self.network.wait_ready()
        self.process.stdin.write(nul_separated(command))
        self.process.stdin.close()
        return self.process

    def release(self) -> None:
        """After the job (or instead of it): remove the cgroups (the network stays its group's)."""
        if not self.process.stdin.closed:
            self.process.stdin.close()
        if self.cgroups is not None:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.cgroups.remove()
