"""Whole GPUs of a worker host, handed to one job at a time.

The host's GPUs are ``LOCAL_ENGINE_GPUS`` (device indexes, "0,1,2,3"). A job
whose instance type asks for N GPUs gets N of them for itself with
``gpus_acquire`` when it starts, and gives them back with ``gpus_release``
when it ends; while fewer than N are free, ``gpus_acquire`` answers None and
the caller leaves the job waiting. ``gpu_flags`` turns the indexes into the
container runtime's flags.

The leases are rows of one table (``GpuLease``) with a unique (host, index)
constraint, not Redis keys, because:

- every Celery worker process on the host sees the same rows, and the
  constraint makes the race between two of them the database's: the loser's
  insert fails and it looks again, so a GPU is never handed out twice, on
  SQLite and PostgreSQL alike;
- a lease must end with its job, and the job's phase and heartbeat are in
  the same database: a lease whose job has ended, or whose job's worker has
  stopped beating for ``LOCAL_ENGINE_LEASE_SECONDS`` (the rule that declares
  the job itself lost), is taken back by the next acquire, in one query;
- the private Redis of ``make run`` is a cache that a restart empties; a GPU
  held by a job that is still running must not become free then.

A lease younger than the lease time is always kept, so a job that acquired
its GPUs just before its claim wrote the first heartbeat is not robbed.
"""

from __future__ import annotations

import socket
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from runs.models import GpuLease, JobPhase

RUNTIMES = ("podman", "docker")


class GpuRequestTooLarge(ValueError):
    """A job asks for more GPUs than its worker host has: it can never start there."""


def host_gpus() -> tuple[int, ...]:
    """This worker host's GPUs, from ``LOCAL_ENGINE_GPUS``."""
    text = str(settings.LOCAL_ENGINE_GPUS or "").strip()
    if not text:
        return ()
    indexes = []
    for item in text.split(","):
        item = item.strip()
        if not item.isdigit():
            raise ImproperlyConfigured(
                f'LOCAL_ENGINE_GPUS="{text}": "{item}" is not a device index; write the '
                'indexes of this host\'s GPUs separated by commas, like "0,1"'
            )
        indexes.append(int(item))
    if len(set(indexes)) != len(indexes):
        raise ImproperlyConfigured(f'LOCAL_ENGINE_GPUS="{text}" names a GPU twice')
    return tuple(indexes)


def worker_host() -> str:
    """The name the leases of this host are kept under."""
    return socket.gethostname()


def _stale_leases(host: str):
    """Leases of ``host`` whose job ended or whose worker stopped beating."""
    cutoff = timezone.now() - timedelta(seconds=settings.LOCAL_ENGINE_LEASE_SECONDS)
    running = Q(job__phase=JobPhase.RUNNING, job__heartbeat__gte=cutoff)
    young = Q(acquired__gte=cutoff) & Q(job__phase__in=(JobPhase.PENDING, JobPhase.RUNNING))
    return GpuLease.objects.filter(host=host).exclude(running | young)


def _taken(host: str) -> set[int]:
    return set(GpuLease.objects.filter(host=host).values_list("index", flat=True))


def gpus_recover(*, host: str | None = None) -> int:
    """Take back the GPUs of ended and lost jobs on ``host``; returns how many."""
    stale = list(_stale_leases(host or worker_host()).values_list("pk", flat=True))
    if not stale:
        return 0
    deleted, _ = GpuLease.objects.filter(pk__in=stale).delete()
    return deleted


def gpus_acquire(*, job_id: int, count: int) -> tuple[int, ...] | None:
    """``count`` GPUs of this host for the job, or None while fewer are free.

    Asking again for a job that holds GPUs here answers the same ones, so a
    retried task does not take a second set. GpuRequestTooLarge when the
    host has fewer than ``count`` GPUs at all.
    """
    if count <= 0:
        return ()
    devices = host_gpus()
    if count > len(devices):
        have = f"{len(devices)} ({', '.join(map(str, devices))})" if devices else "none"
        raise GpuRequestTooLarge(
            f"the job asks for {count} GPU{'s' if count > 1 else ''} and this worker host has "
            f"{have} (LOCAL_ENGINE_GPUS); choose an instance type with at most {len(devices)} "
            "or run it where more GPUs are listed"
        )
    host = worker_host()
    held = tuple(
        GpuLease.objects.filter(host=host, job_id=job_id)
        .order_by("index")
        .values_list("index", flat=True)
    )
    if held:
        return held
    gpus_recover(host=host)
    # Each failed insert means another worker took one of the chosen GPUs
    # between our read and our write; it can happen at most once per GPU.
    for _ in range(len(devices) + 1):
        taken = _taken(host)
        free = [index for index in devices if index not in taken]
        if len(free) < count:
            return None
        chosen = tuple(free[:count])
        try:
            with transaction.atomic():
                GpuLease.objects.bulk_create(
                    [GpuLease(host=host, index=index, job_id=job_id) for index in chosen]
                )
        except IntegrityError:
            continue
        return chosen
    return None


def gpus_release(*, job_id: int) -> None:
    """Give back every GPU the job holds, on any host (safe to call twice)."""
    GpuLease.objects.filter(job_id=job_id).delete()


def gpu_flags(runtime: str, indexes: tuple[int, ...]) -> list[str]:
    """The container runtime's flags that give a container exactly these GPUs.

    podman reads NVIDIA's CDI specification (``nvidia-ctk cdi generate``):
    one ``--device nvidia.com/gpu=I`` per GPU. Docker's ``--gpus`` takes a
    CSV value, so several indexes are quoted as one field.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f'unknown container runtime "{runtime}"; known: {", ".join(RUNTIMES)}')
    if not indexes:
        return []
    if runtime == "podman":
        return [flag for index in indexes for flag in ("--device", f"nvidia.com/gpu={index}")]
    devices = ",".join(map(str, indexes))
    return ["--gpus", f"device={devices}" if len(indexes) == 1 else f'"device={devices}"']
