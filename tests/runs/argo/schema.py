"""Validating manifests against Argo's published JSON Schema (tests/vendor/argo/).

The schema is Kubernetes' OpenAPI turned into JSON Schema: it lets unknown
keys through. The tests make every object definition that lists its
properties closed (``additionalProperties: false``), so a misspelt field is
an error here rather than a field Argo silently ignores.
"""

from __future__ import annotations

import functools
import json

from jsonschema import Draft202012Validator

from tests.paths import VENDOR

SCHEMA_FILE = VENDOR / "argo" / "workflow-schema.json"
WORKFLOW = "io.argoproj.workflow.v1alpha1.Workflow"


def _closed(definitions: dict) -> dict:
    closed = {}
    for name, definition in definitions.items():
        if (
            definition.get("type") == "object"
            and "properties" in definition
            and "additionalProperties" not in definition
            and not definition.get("x-kubernetes-preserve-unknown-fields")
        ):
            definition = {**definition, "additionalProperties": False}
        closed[name] = definition
    return closed


@functools.cache
def workflow_validator() -> Draft202012Validator:
    """Argo's Workflow schema with every listed-properties object closed."""
    document = json.loads(SCHEMA_FILE.read_text())
    schema = {
        "$schema": document.get("$schema", "https://json-schema.org/draft/2020-12/schema"),
        "definitions": _closed(document["definitions"]),
        "$ref": f"#/definitions/{WORKFLOW}",
    }
    return Draft202012Validator(schema)


def schema_errors(manifest: dict) -> list[str]:
    """Every way the manifest breaks Argo's schema, as 'path: message' lines."""
    validator = workflow_validator()
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    ]
