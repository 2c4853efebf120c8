"""/api/v1/datasets: create, list, versions by upload, file lists and downloads."""

import os
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from runs.services import job_version_reserve
from tests.factories import JobRunFactory
from workflows.models import Dataset, DatasetVersion
from workflows.services import dataset_create, dataset_version_reserve, dataset_version_upload


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path) -> Path:
    settings.DATA_DIR = tmp_path
    return tmp_path


@pytest.fixture
def dataset(project):
    return dataset_create(project=project, name="raw", description="camera frames")


@pytest.fixture
def version(dataset):
    """v1 of `dataset`: a.txt and sub/b.txt."""
    files = [
        ("a.txt", SimpleUploadedFile("a", b"alpha")),
        ("sub/b.txt", SimpleUploadedFile("b", b"beta!")),
    ]
    return dataset_version_upload(dataset=dataset, files=files)


def _upload(client, dataset, files: dict[str, bytes], paths: list[str] | None = None, **extra):
    body = {"files": [SimpleUploadedFile(name, content) for name, content in files.items()]}
    if paths is not None:
        body["paths"] = paths
    return client.post(
        f"/api/v1/datasets/{dataset.id}/versions", {**body, **extra}, format="multipart"
    )


def _staging_leftovers(data_dir: Path) -> list[str]:
    staging = data_dir / "datasets" / ".staging"
    return os.listdir(staging) if staging.exists() else []


@pytest.mark.django_db
class TestDatasets:
    @pytest.mark.parametrize(("who", "count"), [("owner", 1), ("member", 1), ("outsider", 0)])
    def test_the_list_shows_my_projects_datasets(self, as_user, dataset, who, count):
        body = as_user(who).get(f"/api/v1/datasets?project={dataset.project_id}").json()

        assert body["count"] == count

    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 201), ("member", 201), ("outsider", 400), (None, 401)]
    )
    def test_create_an_empty_dataset(self, as_user, project, who, expected):
        answer = as_user(who).post(
            "/api/v1/datasets", {"name": "labels", "projectId": project.id}, format="json"
        )

        assert answer.status_code == expected
        if expected == 201:
            assert answer.json()["name"] == "labels"
            assert answer.json()["description"] == ""
        assert Dataset.objects.filter(name="labels").exists() == (expected == 201)

    @pytest.mark.parametrize(
        ("name", "detail"),
        [
            ("raw", 'this project already has a dataset named "raw"'),
            ("raw:v2", "a dataset name may not contain ':' or '/'"),
        ],
    )
    def test_create_refuses_bad_names(self, as_user, dataset, name, detail):
        answer = as_user("owner").post(
            "/api/v1/datasets", {"name": name, "projectId": dataset.project_id}, format="json"
        )

        assert answer.status_code == 400
        assert answer.json() == {"detail": detail}

    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 200), ("member", 200), ("outsider", 404), (None, 401)]
    )
    def test_detail_lists_versions(self, as_user, version, who, expected):
        answer = as_user(who).get(f"/api/v1/datasets/{version.dataset_id}")

        assert answer.status_code == expected
        if expected == 200:
            (listed,) = answer.json()["versions"]
            assert listed["version"] == "v1"
            assert listed["isCommitted"] is True
            assert listed["fileCount"] == 2
            assert listed["size"] == 10

    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 204), ("member", 403), ("outsider", 404), (None, 401)]
    )
    def test_only_owners_delete_and_the_files_go_too(
        self, as_user, version, who, expected, django_capture_on_commit_callbacks
    ):
        folder = Path(version.storage_location)

        with django_capture_on_commit_callbacks(execute=True):
            answer = as_user(who).delete(f"/api/v1/datasets/{version.dataset_id}")

        assert answer.status_code == expected
        assert Dataset.objects.filter(pk=version.dataset_id).exists() == (expected != 204)
        assert folder.exists() == (expected != 204)

    def test_list_queries_do_not_grow_with_datasets(
        self, as_user, project, owner, django_assert_num_queries
    ):
        for index in range(5):
            dataset_create(project=project, name=f"set-{index}")
        client = as_user("owner")

        with django_assert_num_queries(2):
            assert client.get("/api/v1/datasets").json()["count"] == 5

    def test_detail_queries_do_not_grow_with_versions(
        self, as_user, dataset, owner, django_assert_num_queries
    ):
        for _ in range(4):
            dataset_version_reserve(dataset=dataset)
        client = as_user("owner")

        # The dataset with my role; its versions.
        with django_assert_num_queries(2):
            assert len(client.get(f"/api/v1/datasets/{dataset.id}").json()["versions"]) == 4

    def test_a_version_names_the_job_that_made_it(
        self, as_user, dataset, owner, django_assert_num_queries
    ):
        job = JobRunFactory(run__workflow__project=dataset.project)
        job_version_reserve(job=job, dataset=dataset)
        dataset_version_reserve(dataset=dataset)
        client = as_user("owner")

        with django_assert_num_queries(2):
            versions = client.get(f"/api/v1/datasets/{dataset.id}").json()["versions"]

        assert [(v["version"], v["producingJobId"]) for v in versions] == [
            ("v2", None),
            ("v1", job.pk),
        ]


@pytest.mark.django_db
class TestUpload:
    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 201), ("member", 201), ("outsider", 404), (None, 401)]
    )
    def test_who_may_upload(self, as_user, dataset, who, expected):
        answer = _upload(as_user(who), dataset, {"a.txt": b"x"})

        assert answer.status_code == expected
        assert DatasetVersion.objects.filter(dataset=dataset).count() == (expected == 201)

    def test_paths_put_files_in_sub_folders_and_each_upload_is_a_new_version(
        self, as_user, dataset
    ):
        client = as_user("member")

        first = _upload(client, dataset, {"a": b"1", "b": b"22"}, ["x/a.csv", "y/z/b.csv"])
        second = _upload(client, dataset, {"plain.txt": b"333"}, message="more")

        assert first.json()["version"] == "v1"
        assert second.json()["version"] == "v2"
        assert second.json()["message"] == "more"
        files = client.get(f"/api/v1/datasets/{dataset.id}/versions/v1/files").json()
        assert files == [{"path": "x/a.csv", "size": 1}, {"path": "y/z/b.csv", "size": 2}]
        files = client.get(f"/api/v1/datasets/{dataset.id}/versions/v2/files").json()
        assert files == [{"path": "plain.txt", "size": 3}]

    @pytest.mark.parametrize(
        ("paths", "detail"),
        [
            (["../evil.txt"], '"../evil.txt" is not a valid file name inside a dataset'),
            (["/etc/passwd"], '"/etc/passwd" is not a valid file name inside a dataset'),
            (["a.txt", "b.txt"], "paths: give one path per file (1), or none"),
        ],
    )
    def test_bad_paths_are_400_and_leave_nothing(self, as_user, dataset, data_dir, paths, detail):
        answer = _upload(as_user("owner"), dataset, {"a.txt": b"x"}, paths)

        assert answer.status_code == 400
        assert answer.json() == {"detail": detail}
        assert not DatasetVersion.objects.filter(dataset=dataset).exists()
        assert _staging_leftovers(data_dir) == []

    def test_an_upload_without_files_is_400(self, as_user, dataset):
        answer = as_user("owner").post(
            f"/api/v1/datasets/{dataset.id}/versions", {"message": "x"}, format="multipart"
        )

        assert answer.status_code == 400
        assert answer.json()["detail"].startswith("files: ")

    def test_json_is_not_an_upload(self, as_user, dataset):
        answer = as_user("owner").post(
            f"/api/v1/datasets/{dataset.id}/versions", {"files": []}, format="json"
        )

        assert answer.status_code == 415
        assert answer.json() == {"detail": 'Unsupported media type "application/json" in request.'}


@pytest.mark.django_db
class TestFiles:
    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 200), ("member", 200), ("outsider", 404), (None, 401)]
    )
    def test_download(self, as_user, version, who, expected):
        answer = as_user(who).get(
            f"/api/v1/datasets/{version.dataset_id}/versions/v1/files/sub/b.txt"
        )

        assert answer.status_code == expected
        if expected == 200:
            assert b"".join(answer.streaming_content) == b"beta!"
            assert 'attachment; filename="b.txt"' in answer["Content-Disposition"]

    @pytest.mark.parametrize(
        ("who", "expected"), [("owner", 200), ("member", 200), ("outsider", 404), (None, 401)]
    )
    def test_file_list(self, as_user, version, who, expected):
        answer = as_user(who).get(f"/api/v1/datasets/{version.dataset_id}/versions/v1/files")

        assert answer.status_code == expected

    def test_a_download_answers_whatever_the_client_accepts(self, as_user, version):
        answer = as_user("owner").get(
            f"/api/v1/datasets/{version.dataset_id}/versions/v1/files/a.txt",
            HTTP_ACCEPT="application/octet-stream",
        )

        assert answer.status_code == 200

    @pytest.mark.parametrize(
        "path",
        [
            "../../../../etc/passwd",
            "%2e%2e/%2e%2e/%2e%2e/etc/passwd",
            "sub/../../v1/a.txt",
            "sub",
            "missing.txt",
            "link-out",
        ],
    )
    def test_nothing_outside_the_version_nor_missing_is_served(self, as_user, version, path):
        outside = Path(version.storage_location).parent / "secret.txt"
        outside.write_text("do not serve")
        os.symlink(outside, Path(version.storage_location) / "link-out")

        answer = as_user("owner").get(
            f"/api/v1/datasets/{version.dataset_id}/versions/v1/files/{path}"
        )

        assert answer.status_code == 404
        assert b"do not serve" not in answer.content
        assert set(answer.json()) == {"detail"}

    def test_an_uncommitted_version_is_not_there(self, as_user, dataset):
        reserved = dataset_version_reserve(dataset=dataset)
        Path(reserved.storage_location).mkdir(parents=True)
        (Path(reserved.storage_location) / "half.txt").write_text("half written")

        listing = as_user("owner").get(f"/api/v1/datasets/{dataset.id}/versions/v1/files")
        download = as_user("owner").get(f"/api/v1/datasets/{dataset.id}/versions/v1/files/half.txt")

        assert listing.status_code == download.status_code == 404
