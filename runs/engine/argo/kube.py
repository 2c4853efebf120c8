"""Kubernetes API clients for an Argo cluster, from its settings.

Credentials, in order: ``Cluster.settings["kubeconfig"]`` (a kubeconfig file
path) with ``Cluster.kube_context``; else the in-cluster service account
when the dashboard runs in a pod; else the default kubeconfig
(``$KUBECONFIG`` or ``~/.kube/config``) with ``Cluster.kube_context``.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

GROUP = "argoproj.io"
VERSION = "v1alpha1"
PLURAL = "workflows"
# The client would send a dict body to a core API PATCH as a JSON patch (a list).
MERGE_PATCH = "application/merge-patch+json"
# Connect and read timeouts of ordinary calls (watches and log streams set their own).
REQUEST_TIMEOUT = (5, 30)

TRANSIENT = (HTTPError, OSError)
"""Network-level failures worth retrying (ApiException is checked by status)."""


class KubeUnavailable(RuntimeError):
    """The cluster's API cannot be reached or its credentials cannot be loaded."""


def is_transient(error: Exception) -> bool:
    """Whether trying the same call again later may succeed."""
    if isinstance(error, ApiException):
        return error.status in (0, 408, 429) or (error.status or 0) >= 500
    return isinstance(error, TRANSIENT)


@dataclass(frozen=True)
class Apis:
    """The API groups the engine uses, sharing one connection pool."""

    api_client: client.ApiClient
    custom: client.CustomObjectsApi
    core: client.CoreV1Api
    namespace: str


_clients: dict[tuple, client.ApiClient] = {}
_lock = threading.Lock()


def _key(cluster) -> tuple:
    path = (cluster.settings or {}).get("kubeconfig") or ""
    try:
        stamp = os.stat(path).st_mtime_ns if path else 0
    except OSError:
        stamp = 0
    return (cluster.pk, path, stamp, cluster.kube_context)


def _new_client(cluster) -> client.ApiClient:
    path = (cluster.settings or {}).get("kubeconfig")
    context = cluster.kube_context or None
    try:
        if path:
            return config.new_client_from_config(config_file=path, context=context)
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)
            return client.ApiClient(configuration)
        return config.new_client_from_config(context=context)
    except (config.ConfigException, OSError, ValueError) as error:
        raise KubeUnavailable(
            f'cannot load Kubernetes credentials for cluster "{cluster.handle}": {error}'
        ) from None


def apis(cluster) -> Apis:
    """Clients for ``cluster``; cached per process until its kubeconfig file changes."""
    key = _key(cluster)
    with _lock:
        api_client = _clients.get(key)
        if api_client is None:
            for stale in [k for k in _clients if k[0] == cluster.pk]:
                _clients.pop(stale)
            api_client = _clients[key] = _new_client(cluster)
    return Apis(
        api_client=api_client,
        custom=client.CustomObjectsApi(api_client),
        core=client.CoreV1Api(api_client),
        namespace=cluster.namespace or "default",
    )


def forget_clients() -> None:
    """Drop cached clients (tests point clusters at fresh stand-ins)."""
    with _lock:
        _clients.clear()
