"""s3-download@v1 for real: a worker, bubblewrap, and a local S3 server (moto).

The job downloads from inside its sandbox, whose network never reaches the
host's loopback; this module's worker turns LOCAL_ENGINE_ALLOW_HOST_LOOPBACK
on so that the job reaches the local server as 10.0.2.2. (It is a module of
its own so that no other worker takes the job.)
"""

from pathlib import Path

import pytest

from tests.processes import celery_worker
from tests.runs.engine_helpers import S3_DOWNLOAD, job_log, make_world, wait_for_run
from workflows.models import DatasetVersion

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("bubblewrap"),
]


@pytest.fixture
def loopback_worker(transactional_db, tmp_path):
    """A worker whose jobs may reach the host's loopback (as 10.0.2.2), for a local S3 server."""
    with celery_worker(
        log_path=tmp_path / "worker.log", LOCAL_ENGINE_ALLOW_HOST_LOOPBACK="true"
    ) as running:
        yield running


def test_s3_download_copies_a_prefix_from_an_s3_compatible_server(loopback_worker):
    import boto3
    from moto.server import ThreadedMotoServer

    from gradient.private_redis import free_port

    world = make_world()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        client = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="local-key",
            aws_secret_access_key="local-secret",
        )
        client.create_bucket(Bucket="models")
        client.put_object(Bucket="models", Key="resnet/weights.bin", Body=b"\x00\x01weights")
        client.put_object(Bucket="models", Key="resnet/config/params.json", Body=b"{}")
        client.put_object(Bucket="models", Key="other/ignored.txt", Body=b"no")
        world.dataset("weights")
        world.secret("s3-secret", "local-secret")

        run = world.submit(S3_DOWNLOAD.format(endpoint=f"http://10.0.2.2:{port}"))
        run = wait_for_run(run)
    finally:
        server.stop()

    assert run.phase == "SUCCEEDED", job_log(run, "fetch")
    version = DatasetVersion.objects.get(dataset__name="weights")
    folder = Path(version.storage_location)
    assert (folder / "weights.bin").read_bytes() == b"\x00\x01weights"
    assert (folder / "config" / "params.json").read_text() == "{}"
    assert not (folder / "ignored.txt").exists()
    assert version.file_count == 2
    assert "downloaded 2 objects" in job_log(run, "fetch")
