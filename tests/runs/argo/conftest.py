"""Fixtures for the Argo engine: the Kubernetes stand-in, an S3 server, a cluster, a project."""

from __future__ import annotations

import base64
import logging
import textwrap

import boto3
import pytest
from moto.server import ThreadedMotoServer

from gradient.private_redis import free_port
from runs.engine.argo import engine, kube
from runs.models import Run
from runs.services import run_submit
from runs.specs import _parsed
from tests.runs.argo.argo_sim import ArgoSimulator
from tests.runs.argo.kube_standin import KubeStandIn
from tests.runs.argo.specgen import INSTANCE_TYPES
from tests.runs.engine_helpers import World, make_world
from workflows.models import Cluster, Workflow
from workflows.services import workflow_create

NAMESPACE = "team-a"
BUCKET = "gradient-artifacts"


@pytest.fixture(scope="session")
def s3_endpoint():
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint):
    """A client of the artifact repository's bucket (emptied for each test)."""
    client = boto3.client(
        "s3",
        endpoint_url=f"http://{s3_endpoint}",
        region_name="us-east-1",
        aws_access_key_id="minio-key",
        aws_secret_access_key="minio-secret",
    )
    client.create_bucket(Bucket=BUCKET)
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])


@pytest.fixture
def kube_api():
    """The Kubernetes API stand-in, with the artifact repository's credentials Secret."""
    standin = KubeStandIn()
    standin.start()
    standin.put_secret(
        NAMESPACE,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "minio", "uid": "minio-uid"},
            "data": {
                "accesskey": base64.b64encode(b"minio-key").decode(),
                "secretkey": base64.b64encode(b"minio-secret").decode(),
            },
        },
    )
    kube.forget_clients()
    yield standin
    standin.stop()
    kube.forget_clients()


@pytest.fixture(autouse=True)
def _fresh_spec_cache():
    """runs.specs caches parsed specs by row id, and a rolled-back test's ids come back."""
    _parsed.cache_clear()
    yield
    _parsed.cache_clear()


@pytest.fixture
def no_celery(monkeypatch):
    """Runs are started by the test (engine.run_start), not by a Celery worker."""
    monkeypatch.setattr("runs.queue.run_start", lambda run_id: None)
    monkeypatch.setattr("runs.queue.run_cancel", lambda run_id: None)


class ArgoWorld(World):
    cluster: Cluster

    def submit(self, spec: str, inputs=None, workflow: str = "workflow") -> Run:
        found = Workflow.objects.filter(project=self.project, name=workflow).first()
        found = found or workflow_create(project=self.project, name=workflow, user=self.user)
        return run_submit(
            workflow=found,
            spec_text=textwrap.dedent(spec),
            inputs=inputs,
            cluster_id=self.cluster.handle,
            user=self.user,
        )

    def start(self, spec: str, inputs=None) -> Run:
        """Submit a run and hand it to Argo, as the run_start task does."""
        run = self.submit(spec, inputs)
        engine.run_start(run.pk)
        run.refresh_from_db()
        return run


def make_argo_world(kube_api: KubeStandIn, s3_endpoint: str, tmp_path, username="argonaut"):
    base = make_world(username)
    world = ArgoWorld(user=base.user, team=base.team, project=base.project)
    kubeconfig = kube_api.write_kubeconfig(tmp_path / f"kubeconfig-{username}")
    world.cluster = Cluster.objects.create(
        team=world.team,
        handle="k8s",
        name="Kubernetes",
        kind=Cluster.Kind.ARGO,
        kube_context="standin",
        namespace=NAMESPACE,
        instance_types=INSTANCE_TYPES,
        settings={
            "kubeconfig": str(kubeconfig),
            "volumeSize": "1Gi",
            "artifactRepository": {
                "s3": {
                    "bucket": BUCKET,
                    "endpoint": s3_endpoint,
                    "insecure": True,
                    "region": "us-east-1",
                    "keyPrefix": "gw",
                    "accessKeySecret": {"name": "minio", "key": "accesskey"},
                    "secretKeySecret": {"name": "minio", "key": "secretkey"},
                }
            },
        },
    )
    return world


@pytest.fixture
def world(db, kube_api, s3, s3_endpoint, tmp_path, no_celery) -> ArgoWorld:
    return make_argo_world(kube_api, s3_endpoint, tmp_path)


@pytest.fixture
def sim(kube_api, s3) -> ArgoSimulator:
    simulator = ArgoSimulator(kube_api, NAMESPACE, s3=s3)
    yield simulator
    simulator.stop()
