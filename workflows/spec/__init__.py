"""The workflow spec language: YAML text in, a typed spec or every error out.

A pure-Python library (no Django): the editor, the REST API, the CLI, run
submission and both engines use it.

    result = parse_spec(text)
    if result.valid:
        for job in result.spec.jobs: ...
    else:
        for error in result.errors: print(error.line, error.message)
"""

from .actions import ACTIONS, Action, Param
from .errors import SpecError
from .locate import errors_at
from .model import (
    STRING_OUTPUT_MAX_BYTES,
    Defaults,
    InputSource,
    Job,
    JobInput,
    JobOutput,
    Resources,
    Trigger,
    WorkflowInput,
    WorkflowSpec,
    string_output_problem,
)
from .parse import SpecResult, parse_spec
from .run_inputs import RunInputsResult, resolve_run_inputs
from .schema import spec_json_schema
from .yaml_errors import utf8_size

__all__ = [
    "ACTIONS",
    "STRING_OUTPUT_MAX_BYTES",
    "Action",
    "Defaults",
    "InputSource",
    "Job",
    "JobInput",
    "JobOutput",
    "Param",
    "Resources",
    "RunInputsResult",
    "SpecError",
    "SpecResult",
    "Trigger",
    "WorkflowInput",
    "WorkflowSpec",
    "errors_at",
    "parse_spec",
    "resolve_run_inputs",
    "spec_json_schema",
    "string_output_problem",
    "utf8_size",
]
