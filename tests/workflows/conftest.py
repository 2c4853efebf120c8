"""Fixtures for the spec language tests, and the hypothesis profiles.

``CI=true`` selects the ``ci`` profile (2,000 examples per property); anywhere
else ``dev`` keeps the suite quick.
"""

import os
import textwrap
from collections.abc import Callable

import jsonschema
import pytest
from hypothesis import HealthCheck, settings

from workflows.spec import SpecError, WorkflowSpec, parse_spec, spec_json_schema

settings.register_profile(
    "ci",
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev",
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("ci" if os.environ.get("CI", "").lower() == "true" else "dev")


@pytest.fixture(scope="session")
def validator() -> jsonschema.Draft202012Validator:
    """The spec language's JSON Schema (the editor's), checked and ready."""
    schema = spec_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture
def valid_spec() -> Callable[[str], WorkflowSpec]:
    """Parse dedented YAML and assert it is valid; gives the typed spec."""

    def parse(text: str) -> WorkflowSpec:
        result = parse_spec(textwrap.dedent(text))
        assert result.errors == (), [e.as_dict() for e in result.errors]
        assert result.spec is not None
        return result.spec

    return parse


@pytest.fixture
def spec_errors() -> Callable[[str], list[SpecError]]:
    """Parse dedented YAML and assert it is invalid; gives its errors."""

    def parse(text: str) -> list[SpecError]:
        result = parse_spec(textwrap.dedent(text))
        assert result.errors, "expected errors, the spec is valid"
        assert result.spec is None
        return list(result.errors)

    return parse


@pytest.fixture
def error_at(spec_errors) -> Callable[..., SpecError]:
    """The one error at ``path``; checks its line and that its message has ``message``."""

    def find(text: str, path: str, line: int | None = None, message: str = "") -> SpecError:
        errors = spec_errors(text)
        matches = [e for e in errors if e.path == path]
        assert len(matches) == 1, f"errors at {path!r}: {[e.as_dict() for e in errors]}"
        error = matches[0]
        if line is not None:
            assert error.line == line, error.as_dict()
        assert message in error.message, error.as_dict()
        return error

    return find
