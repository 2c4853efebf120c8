"""Which clone URLs name a repository on this host (one rule for links and git-checkout@v1)."""

from pathlib import Path

import pytest

from workflows.clone_urls import local_repository_path


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("/srv/git/demo.git", "/srv/git/demo.git"),
        ("file:///srv/git/demo.git", "/srv/git/demo.git"),
        ("FILE:///srv/git/demo.git", "/srv/git/demo.git"),
        # git's rule: a slash before the first colon makes it a path, not host:path.
        ("/srv/git/odd:name.git", "/srv/git/odd:name.git"),
        ("./demo:x", "./demo:x"),
    ],
)
def test_paths_and_file_urls_are_local(url, path):
    assert local_repository_path(url) == Path(path)


@pytest.mark.parametrize(
    "url",
    [
        "git@github.com:octo/demo.git",
        "github.com:octo/demo.git",
        "ssh://git@github.com/octo/demo.git",
        "https://github.com/octo/demo.git",
        "git://example.org/demo.git",
    ],
)
def test_remotes_are_not_local(url):
    assert local_repository_path(url) is None
