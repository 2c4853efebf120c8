"""The GPU allocator of the local engine: whole GPUs, one job each, never handed out twice."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone

from runs.engine.local import gpus
from runs.engine.local.gpus import (
    GpuRequestTooLarge,
    gpu_flags,
    gpus_acquire,
    gpus_recover,
    gpus_release,
    host_gpus,
)
from runs.models import GpuLease, JobPhase
from tests.factories import JobRunFactory


@pytest.fixture
def four_gpus(settings):
    settings.LOCAL_ENGINE_GPUS = "0,1,2,3"
    settings.LOCAL_ENGINE_LEASE_SECONDS = 30


def running_job(**fields):
    return JobRunFactory(phase=JobPhase.RUNNING, heartbeat=timezone.now(), **fields)


def age(job, seconds: float) -> None:
    """Make the job's lease and heartbeat ``seconds`` old, as a dead worker leaves them."""
    then = timezone.now() - timedelta(seconds=seconds)
    GpuLease.objects.filter(job=job).update(acquired=then)
    type(job).objects.filter(pk=job.pk).update(heartbeat=then)


@pytest.mark.django_db
class TestAcquire:
    def test_each_job_gets_gpus_of_its_own(self, four_gpus):
        first, second = running_job(), running_job()

        assert gpus_acquire(job_id=first.pk, count=2) == (0, 1)
        assert gpus_acquire(job_id=second.pk, count=2) == (2, 3)

    def test_a_job_asking_again_gets_the_same_gpus(self, four_gpus):
        job = running_job()

        assert gpus_acquire(job_id=job.pk, count=2) == (0, 1)
        assert gpus_acquire(job_id=job.pk, count=2) == (0, 1)
        assert GpuLease.objects.count() == 2

    def test_none_while_too_few_are_free_then_the_released_ones(self, four_gpus):
        holder, waiting = running_job(), running_job()
        assert gpus_acquire(job_id=holder.pk, count=3) == (0, 1, 2)

        assert gpus_acquire(job_id=waiting.pk, count=2) is None
        assert GpuLease.objects.filter(job=waiting).count() == 0

        gpus_release(job_id=holder.pk)
        assert gpus_acquire(job_id=waiting.pk, count=2) == (0, 1)

    def test_release_twice_is_harmless(self, four_gpus):
        job = running_job()
        gpus_acquire(job_id=job.pk, count=1)

        gpus_release(job_id=job.pk)
        gpus_release(job_id=job.pk)

        assert GpuLease.objects.count() == 0

    def test_no_gpus_asked_takes_none(self, four_gpus):
        assert gpus_acquire(job_id=running_job().pk, count=0) == ()
        assert GpuLease.objects.count() == 0

    def test_more_than_the_host_has_is_a_clear_failure(self, four_gpus):
        with pytest.raises(GpuRequestTooLarge) as error:
            gpus_acquire(job_id=running_job().pk, count=5)

        assert str(error.value).startswith(
            "the job asks for 5 GPUs and this worker host has 4 (0, 1, 2, 3) (LOCAL_ENGINE_GPUS)"
        )

    def test_a_host_without_gpus_says_so(self, settings):
        settings.LOCAL_ENGINE_GPUS = ""

        with pytest.raises(GpuRequestTooLarge, match="this worker host has none"):
            gpus_acquire(job_id=running_job().pk, count=1)

    def test_a_gpu_taken_between_read_and_write_is_not_handed_out_twice(
        self, four_gpus, monkeypatch
    ):
        """The unique (host, index) constraint decides a race, not the read before it."""
        other, job = running_job(), running_job()
        assert gpus_acquire(job_id=other.pk, count=1) == (0,)
        stale_views = iter([set()])
        real = gpus._taken
        monkeypatch.setattr(gpus, "_taken", lambda host: next(stale_views, None) or real(host))

        assert gpus_acquire(job_id=job.pk, count=1) == (1,)
        assert list(GpuLease.objects.filter(index=0).values_list("job", flat=True)) == [other.pk]


@pytest.mark.django_db
class TestRecovery:
    @pytest.mark.parametrize(
        "phase", [JobPhase.SUCCEEDED, JobPhase.FAILED, JobPhase.CANCELED, JobPhase.SKIPPED]
    )
    def test_the_gpus_of_an_ended_job_come_back(self, four_gpus, phase):
        ended, job = running_job(), running_job()
        gpus_acquire(job_id=ended.pk, count=4)
        type(ended).objects.filter(pk=ended.pk).update(phase=phase)

        assert gpus_acquire(job_id=job.pk, count=4) == (0, 1, 2, 3)

    def test_the_gpus_of_a_job_whose_worker_died_come_back(self, four_gpus):
        lost, job = running_job(), running_job()
        gpus_acquire(job_id=lost.pk, count=4)
        age(lost, 31)

        assert gpus_acquire(job_id=job.pk, count=2) == (0, 1)
        assert not GpuLease.objects.filter(job=lost).exists()

    def test_a_running_job_that_beats_keeps_its_gpus(self, four_gpus):
        busy, job = running_job(), running_job()
        gpus_acquire(job_id=busy.pk, count=4)
        GpuLease.objects.update(acquired=timezone.now() - timedelta(hours=5))

        assert gpus_acquire(job_id=job.pk, count=1) is None
        assert gpus_recover() == 0

    def test_a_young_lease_of_a_job_not_yet_beating_is_kept(self, four_gpus):
        starting, job = JobRunFactory(phase=JobPhase.PENDING), running_job()
        gpus_acquire(job_id=starting.pk, count=4)

        assert gpus_acquire(job_id=job.pk, count=1) is None

    def test_a_lost_job_retried_elsewhere_frees_its_gpus_here(self, four_gpus):
        retried = JobRunFactory(phase=JobPhase.PENDING)
        gpus_acquire(job_id=retried.pk, count=4)
        age(retried, 31)

        assert gpus_recover() == 4


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_never_share_a_gpu(four_gpus):
    jobs = [running_job() for _ in range(8)]
    barrier = threading.Barrier(len(jobs))
    results: dict[int, tuple[int, ...] | None] = {}

    def acquire(job_id: int) -> None:
        barrier.wait()
        try:
            results[job_id] = gpus_acquire(job_id=job_id, count=2)
        finally:
            connection.close()

    threads = [threading.Thread(target=acquire, args=(job.pk,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    granted = [gpus for gpus in results.values() if gpus is not None]
    assert len(results) == 8
    assert len(granted) == 2
    assert sorted(index for gpus in granted for index in gpus) == [0, 1, 2, 3]
    held = {
        job: tuple(sorted(GpuLease.objects.filter(job=job).values_list("index", flat=True)))
        for job in results
    }
    assert {job: gpus for job, gpus in held.items() if gpus} == {
        job: gpus for job, gpus in results.items() if gpus is not None
    }


@pytest.mark.parametrize(
    ("text", "says"), [("0,x", '"x" is not a device index'), ("0,1,0", "names a GPU twice")]
)
def test_a_bad_gpu_list_is_a_clear_configuration_error(settings, text, says):
    settings.LOCAL_ENGINE_GPUS = text

    with pytest.raises(ImproperlyConfigured, match=says):
        host_gpus()


def test_gpu_list_reads_indexes(settings):
    settings.LOCAL_ENGINE_GPUS = " 2, 0 ,5"

    assert host_gpus() == (2, 0, 5)


def test_runtime_flags():
    assert gpu_flags("podman", (1, 3)) == [
        "--device",
        "nvidia.com/gpu=1",
        "--device",
        "nvidia.com/gpu=3",
    ]
    assert gpu_flags("docker", (2,)) == ["--gpus", "device=2"]
    assert gpu_flags("docker", (0, 2)) == ["--gpus", '"device=0,2"']
    assert gpu_flags("podman", ()) == []
    with pytest.raises(ValueError, match='unknown container runtime "lxc"'):
        gpu_flags("lxc", (0,))
