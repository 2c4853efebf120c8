"""Dataset versions in the cluster's artifact repository (S3 or S3-compatible).

The dashboard's dataset store stays the one truth: a dataset version that an
Argo job reads is uploaded to the repository under its key before the run
starts (once; the key never changes), and a version an Argo job wrote is
downloaded back into the store when the engine commits it.

Archives have the shape Argo reads and writes: a tar.gz with a single
top-level folder. Argo places such an archive's folder at the artifact's path
(``/inputs/NAME``) and archives an output folder the same way, under the
folder's own name.
"""

from __future__ import annotations

import base64
import io
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from kubernetes.client.exceptions import ApiException

from runs.engine.argo.compiler import dataset_version_key
from runs.engine.argo.kube import TRANSIENT, Apis


class ArtifactError(RuntimeError):
    """The artifact repository cannot be used; the message says what to fix."""


def _secret_value(apis: Apis, selector: dict | None) -> str | None:
    if not selector:
        return None
    secret = apis.core.read_namespaced_secret(selector["name"], apis.namespace)
    encoded = (secret.data or {}).get(selector["key"])
    if encoded is None:
        raise ArtifactError(
            f'the Kubernetes secret "{selector["name"]}" has no key "{selector["key"]}" '
            "(artifactRepository.s3 of the cluster's settings names it)"
        )
    return base64.b64decode(encoded).decode()


class ArtifactStore:
    """The dashboard's view of the repository named in ``Cluster.settings``.

    ``artifactRepository.s3`` is Argo's S3ArtifactRepository (bucket,
    endpoint, insecure, region, keyPrefix, accessKeySecret, secretKeySecret);
    the dashboard reads the same Kubernetes secrets for its own credentials.
    ``artifactRepository.dashboardEndpoint`` is the URL the dashboard uses when
    it reaches the store at another address than the pods do.
    """

    def __init__(self, settings: dict, apis: Apis) -> None:
        repository = settings.get("artifactRepository") or {}
        s3 = repository.get("s3")
        if not s3 or not s3.get("bucket"):
            raise ArtifactError(
                "this cluster has no artifact repository for datasets; set "
                "artifactRepository.s3 (bucket, endpoint, credentials) in its settings"
            )
        self.bucket = s3["bucket"]
        self.prefix = s3.get("keyPrefix", "")
        if self.prefix and not self.prefix.endswith("/"):
            self.prefix += "/"
        endpoint = repository.get("dashboardEndpoint")
        if not endpoint and s3.get("endpoint"):
            scheme = "http" if s3.get("insecure") else "https"
            endpoint = f"{scheme}://{s3['endpoint']}"
        try:
            access_key = _secret_value(apis, s3.get("accessKeySecret"))
            secret_key = _secret_value(apis, s3.get("secretKeySecret"))
        except (ApiException, *TRANSIENT) as error:
            raise ArtifactError(
                f"cannot read the artifact repository's credentials: {error}"
            ) from None
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint or None,
            region_name=s3.get("region") or "us-east-1",
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=Config(retries={"max_attempts": 3}, s3={"addressing_style": "path"}),
        )

    def key(self, dataset_id: str, version: str) -> str:
        return dataset_version_key(self.prefix, dataset_id, version)

    def has(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise ArtifactError(f"cannot read s3://{self.bucket}/{key}: {error}") from None
        except BotoCoreError as error:
            raise ArtifactError(f"cannot reach the artifact repository: {error}") from None

    def upload_folder(self, folder: Path, key: str) -> None:
        """The folder's files as a tar.gz with one top-level folder, at ``key``."""
        with tempfile.TemporaryFile() as archive:
            with tarfile.open(fileobj=archive, mode="w:gz") as tar:
                top = PurePosixPath(key).name.removesuffix(".tgz") or "data"
                tar.add(folder, arcname=top, filter=_regular_files_only)
            archive.seek(0)
            try:
                self.client.upload_fileobj(archive, self.bucket, key)
            except (BotoCoreError, ClientError) as error:
                raise ArtifactError(f"cannot upload s3://{self.bucket}/{key}: {error}") from None

    def download_into(self, key: str, folder: Path) -> None:
        """Unpack the archive at ``key`` into ``folder`` (its single top-level folder's content)."""
        buffer = io.BytesIO()
        try:
            self.client.download_fileobj(self.bucket, key, buffer)
        except (BotoCoreError, ClientError) as error:
            raise ArtifactError(f"cannot download s3://{self.bucket}/{key}: {error}") from None
        buffer.seek(0)
        unpack(buffer, folder)


def _regular_files_only(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return member if member.isdir() or member.isreg() else None


def unpack(archive: io.BufferedIOBase, folder: Path) -> None:
    """Extract a job's output archive safely: regular files and folders only, nothing outside.

    Argo archives an output folder under its own name, so an archive with a
    single top-level folder has that folder's content extracted.
    """
    with tempfile.TemporaryDirectory(dir=folder.parent) as scratch:
        root = Path(scratch)
        try:
            with tarfile.open(fileobj=archive, mode="r:*") as tar:
                tar.extractall(root, filter="data", members=_safe_members(tar))
        except (tarfile.TarError, OSError, EOFError) as error:
            raise ArtifactError(f"the output archive cannot be read: {error}") from None
        entries = list(root.iterdir())
        source = entries[0] if len(entries) == 1 and entries[0].is_dir() else root
        folder.mkdir(parents=True, exist_ok=True)
        for entry in list(source.iterdir()):
            shutil.move(str(entry), folder / entry.name)


def _safe_members(tar: tarfile.TarFile):
    for member in tar:
        parts = PurePosixPath(member.name).parts
        if member.name.startswith("/") or ".." in parts:
            continue
        if member.isreg() or member.isdir():
            yield member
