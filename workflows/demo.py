"""What a fresh `make run` shows: a demo user, team and project with workflows ready to run."""

from __future__ import annotations

import io
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from workflows.services import (
    dataset_create,
    dataset_version_upload,
    project_create,
    secret_set,
    spec_store,
    team_create,
    workflow_create,
    workflow_set_default_spec,
)
from workflows.spec import parse_spec

DEMO_USERNAME = "demo"

# The demo's workflows are the repository's examples, which the suite validates, compiles
# and runs (tests/specs.py reads the same files): workflow name -> file in examples/.
EXAMPLES = settings.BASE_DIR / "examples"
WORKFLOWS = {"hello": "hello.yaml", "word-count": "pipeline.yaml"}


CORPUS = b"""the quick brown fox jumps over the lazy dog
a fox and a dog share the garden of the house
the dog sleeps and the fox runs
"""


def _workflow(project, name: str, text: str, user) -> None:
    workflow = workflow_create(project=project, name=name, user=user)
    spec = spec_store(text=text, parsed=parse_spec(text).spec.to_json())
    workflow_set_default_spec(workflow=workflow, spec=spec)


@transaction.atomic
def demo_setup(*, password_file: Path) -> tuple[object, bool]:
    """Create the demo user, team, project and workflows once; return (user, created).

    The demo password is generated on first start and kept in the data
    folder, so a fresh machine never has a well-known password.
    """
    User = get_user_model()
    user = User.objects.filter(username=DEMO_USERNAME).first()
    if user is not None:
        return user, False
    password = secrets.token_urlsafe(12)
    user = User.objects.create_user(
        username=DEMO_USERNAME, password=password, is_staff=True, is_superuser=True
    )
    team = team_create(name="Demo team", owner=user)
    project = project_create(team=team, name="Demo project")
    corpus = dataset_create(project=project, name="corpus", description="A few sentences.")
    dataset_version_upload(dataset=corpus, files=[("sentences.txt", io.BytesIO(CORPUS))])
    dataset_create(project=project, name="word-counts")
    dataset_create(project=project, name="reports")
    secret_set(
        team=team, scope="project", project=project, name="greeting", value="Hello from a secret"
    )
    for name, file_name in WORKFLOWS.items():
        _workflow(project, name, (EXAMPLES / file_name).read_text(), user)
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    return user, True
