"""The README and docs/ stand alone: every relative link points at a file of this repository."""

import re

import pytest

from tests.paths import DOCS, REPO

PAGES = [REPO / "README.md", *sorted(DOCS.glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#+ (.*)$", re.MULTILINE)


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_relative_links_stay_in_the_repository_and_resolve(page):
    for target in LINK.findall(page.read_text()):
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, fragment = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.is_relative_to(REPO), f"{page.name} links outside the repository: {target}"
        assert file.exists(), f"{page.name} links to a missing file: {target}"
        if fragment and file.suffix == ".md":
            anchors = {_anchor(h) for h in HEADING.findall(file.read_text())}
            assert fragment in anchors, f"{page.name}: no heading for #{fragment} in {file.name}"


def test_the_readme_starts_with_the_two_commands():
    lines = (REPO / "README.md").read_text().splitlines()
    block = lines[lines.index("```sh") + 1 : lines.index("```sh") + 3]
    assert [line.split()[:2] for line in block] == [["make", "run"], ["make", "test"]]
