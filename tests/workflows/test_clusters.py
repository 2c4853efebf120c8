"""Cluster shapes: quantities, typed instance types, and saving them through the API and admin."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from tests.factories import ClusterFactory
from workflows.clusters import (
    InstanceType,
    InstanceTypeError,
    cluster_instance_types,
    cluster_shapes,
    cluster_shapes_validate,
    parse_cpu,
    parse_memory,
)

GI = 2**30


@pytest.mark.parametrize(
    ("text", "cores"),
    [("2", 2.0), ("500m", 0.5), ("1.5", 1.5), (4, 4.0), (0.25, 0.25), ("1e1", 10.0)],
)
def test_cpu_quantities(text, cores):
    assert parse_cpu(text) == cores


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("4Gi", 4 * GI),
        ("512Mi", 512 * 2**20),
        ("1G", 10**9),
        ("1048576", 2**20),
        (2048, 2048),
        ("1.5Gi", 3 * 2**29),
    ],
)
def test_memory_quantities(text, size):
    assert parse_memory(text) == size


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("4GB", 'memory "4GB" is not a quantity'),
        ("lots", 'memory "lots" is not a quantity'),
        ("-1Gi", 'memory "-1Gi" is not a quantity'),
        ("0", "memory must be more than 0"),
        ("500m", "is not a whole number of bytes"),
        (True, "memory must be a number or a quantity"),
        ([4], "memory must be a number or a quantity"),
    ],
)
def test_bad_memory_says_what_to_write(value, says):
    with pytest.raises(InstanceTypeError) as error:
        parse_memory(value)
    assert says in str(error.value)
    assert '"4Gi"' in str(error.value) or "bytes" in str(error.value)


def test_instance_type_reads_every_key_and_writes_it_back():
    data = {
        "cpu": "500m",
        "memory": "30Gi",
        "gpu": 2,
        "pids": 4096,
        "nodeSelector": {"pool": "gpu"},
        "tolerations": [{"key": "gpu", "operator": "Exists"}],
        "resources": {"limits": {"example.com/fpga": 1}},
        "gpuResource": "amd.com/gpu",
    }

    shape = InstanceType.from_json(data, "P4000")

    assert shape == InstanceType(
        cpu=0.5,
        memory_bytes=30 * GI,
        gpu=2,
        pids=4096,
        node_selector={"pool": "gpu"},
        tolerations=({"key": "gpu", "operator": "Exists"},),
        resources={"limits": {"example.com/fpga": "1"}},
        gpu_resource="amd.com/gpu",
    )
    assert shape.to_json() == {**data, "resources": {"limits": {"example.com/fpga": "1"}}}
    assert InstanceType.from_json(shape.to_json()) == shape


def test_an_empty_instance_type_limits_nothing():
    assert InstanceType.from_json({}) == InstanceType(cpu=None, memory_bytes=None, gpu=0, pids=None)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"cpus": 2}, 'instance type "X" has unknown keys cpus'),
        ({"gpu": -1}, 'instance type "X": gpu must be a whole number of at least 0'),
        ({"gpu": 1.5}, "gpu must be a whole number"),
        ({"pids": 0}, "pids must be a whole number of at least 1"),
        ({"cpu": "two"}, 'instance type "X": cpu "two" is not a quantity'),
        ({"nodeSelector": ["pool"]}, "nodeSelector must map label names to text values"),
        ({"tolerations": {"key": "a"}}, "tolerations must be a list of objects"),
        ({"resources": {"request": {}}}, "resources must be an object with requests"),
        ("C4", 'instance type "X" must be an object'),
    ],
)
def test_bad_instance_types_name_the_key(data, says):
    with pytest.raises(InstanceTypeError) as error:
        InstanceType.from_json(data, "X")
    assert says in str(error.value)


def test_the_default_type_must_be_one_of_the_cluster_types():
    with pytest.raises(InstanceTypeError) as error:
        cluster_shapes_validate(
            instance_types={"C4": {"cpu": 4}},
            default_instance_type="C8",
            default_job_timeout_seconds=None,
        )
    assert str(error.value) == (
        'the default instance type "C8" is not one of this cluster\'s instance types (known: C4)'
    )


@pytest.mark.django_db
def test_a_cluster_row_reads_into_typed_shapes():
    cluster = ClusterFactory(
        instance_types={"C4": {"cpu": "4", "memory": "8Gi"}, "G1": {"gpu": 1}},
        default_instance_type="C4",
        default_job_timeout_seconds=3600,
    )

    shapes = cluster_shapes(cluster)

    assert cluster_instance_types(cluster) == {
        "C4": InstanceType(cpu=4.0, memory_bytes=8 * GI),
        "G1": InstanceType(gpu=1),
    }
    assert shapes.default_job_timeout_seconds == 3600
    assert shapes.for_job(None) == InstanceType(cpu=4.0, memory_bytes=8 * GI)
    assert shapes.for_job("G1") == InstanceType(gpu=1)


def test_a_job_gets_its_type_the_default_or_no_limits():
    shapes = cluster_shapes_validate(
        instance_types={"C4": {"cpu": 4}, "G1": {"gpu": 1}},
        default_instance_type="C4",
        default_job_timeout_seconds=None,
    )
    unlimited = cluster_shapes_validate(
        instance_types={}, default_instance_type=None, default_job_timeout_seconds=None
    )

    assert shapes.for_job("G1") == InstanceType(gpu=1)
    assert shapes.for_job(None) == InstanceType(cpu=4.0)
    assert unlimited.for_job("C4") is None
    with pytest.raises(InstanceTypeError, match='no instance type "P5" any more'):
        shapes.for_job("P5")


@pytest.mark.django_db
def test_the_admin_refuses_a_bad_cluster():
    """The admin's form calls full_clean, which calls Cluster.clean."""
    cluster = ClusterFactory.build(
        instance_types={"C4": {"memory": "8 gigs"}}, team=ClusterFactory().team
    )
    with pytest.raises(ValidationError) as error:
        cluster.full_clean()
    assert 'instance type "C4": memory "8 gigs" is not a quantity' in str(error.value)


@pytest.mark.django_db
class TestClusterApi:
    @pytest.fixture
    def argo_cluster(self, team):
        return ClusterFactory(team=team, kind="argo", instance_types={"C4": {"cpu": "4"}})

    def url(self, argo_cluster) -> str:
        return f"/api/v1/clusters/{argo_cluster.id}"

    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 200), ("member", 403), ("outsider", 404), (None, 401)]
    )
    def test_only_owners_change_shapes(self, as_user, argo_cluster, who, expected):
        answer = as_user(who).patch(
            self.url(argo_cluster), {"defaultInstanceType": "C4"}, format="json"
        )

        assert answer.status_code == expected
        argo_cluster.refresh_from_db()
        assert argo_cluster.default_instance_type == ("C4" if expected == 200 else "")

    def test_members_read_the_defaults(self, as_user, argo_cluster):
        argo_cluster.default_job_timeout_seconds = 600
        argo_cluster.save()

        answer = as_user("member").get(self.url(argo_cluster))

        assert answer.status_code == 200
        assert answer.json()["defaultJobTimeoutSeconds"] == 600
        assert answer.json()["defaultInstanceType"] == ""

    def test_an_owner_sets_types_default_and_timeout(self, as_user, argo_cluster):
        answer = as_user("owner").patch(
            self.url(argo_cluster),
            {
                "instanceTypes": {"G1": {"cpu": "8", "memory": "30Gi", "gpu": 1}},
                "defaultInstanceType": "G1",
                "defaultJobTimeoutSeconds": 7200,
            },
            format="json",
        )

        assert answer.status_code == 200, answer.json()
        assert answer.json()["instanceTypes"] == ["G1"]
        argo_cluster.refresh_from_db()
        assert cluster_shapes(argo_cluster).for_job(None) == InstanceType(
            cpu=8.0, memory_bytes=30 * GI, gpu=1
        )
        assert argo_cluster.default_job_timeout_seconds == 7200

    @pytest.mark.parametrize(
        ("body", "says"),
        [
            ({"instanceTypes": {"C4": {"memory": "8GB"}}}, 'memory "8GB" is not a quantity'),
            ({"defaultInstanceType": "P5000"}, 'the default instance type "P5000" is not one'),
            (
                {"instanceTypes": {"C8": {"cpu": 8}}, "defaultInstanceType": "C4"},
                "(known: C8)",
            ),
            ({"instanceTypes": ["C4"]}, "instance types must be an object"),
            ({"defaultJobTimeoutSeconds": 0}, "defaultJobTimeoutSeconds"),
        ],
    )
    def test_bad_shapes_are_a_clear_400(self, as_user, argo_cluster, body, says):
        answer = as_user("owner").patch(self.url(argo_cluster), body, format="json")

        assert answer.status_code == 400
        assert answer["Content-Type"] == "application/json"
        assert says in answer.json()["detail"]
        argo_cluster.refresh_from_db()
        assert argo_cluster.instance_types == {"C4": {"cpu": "4"}}
        assert argo_cluster.default_instance_type == ""
