"""Two teams, A and B, as the hostile-user report of issue 12 used them.

Team A is the victim and team B the attacker; each has an owner and a
project with its own local cluster. Runs are only created (PENDING) unless a
test starts a worker.
"""

from __future__ import annotations

import pytest

from tests.factories import ClusterFactory, MembershipFactory, ProjectFactory, TeamFactory


@pytest.fixture
def team_a(db):
    return TeamFactory(name="Team A")


@pytest.fixture
def team_b(db):
    return TeamFactory(name="Team B")


@pytest.fixture
def owner_a(team_a):
    return MembershipFactory(team=team_a, role="owner").user


@pytest.fixture
def owner_b(team_b):
    return MembershipFactory(team=team_b, role="owner").user


@pytest.fixture
def project_a(team_a):
    ClusterFactory(team=team_a, handle="local")
    return ProjectFactory(team=team_a)


@pytest.fixture
def project_b(team_b):
    ClusterFactory(team=team_b, handle="local")
    return ProjectFactory(team=team_b)
