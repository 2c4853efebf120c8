"""The typed spec of a run, parsed once per process and spec."""

from __future__ import annotations

import functools

from runs.models import Run
from workflows.models import StoredSpec
from workflows.spec import WorkflowSpec, parse_spec


@functools.lru_cache(maxsize=64)
def _parsed(spec_id: int, sha256: str) -> WorkflowSpec:
    """Keyed by content as well as id: ids are reused after a rollback, content is not."""
    text = StoredSpec.objects.values_list("text", flat=True).get(pk=spec_id, sha256=sha256)
    result = parse_spec(text)
    if result.spec is None:
        # Only valid specs are ever stored for runs; a failure here means the
        # validator has grown stricter since. Say so plainly.
        raise ValueError(f"the stored spec {spec_id} no longer validates: {result.errors[0]}")
    return result.spec


@functools.lru_cache(maxsize=1024)
def _spec_sha256(run_log_id: str, spec_id: int) -> str:
    """A run's spec never changes: its hash is read once per process and run."""
    return StoredSpec.objects.values_list("sha256", flat=True).get(pk=spec_id)


def spec_model(run: Run) -> WorkflowSpec:
    """The run's typed spec; kept on the run instance, so a task asks for it once."""
    model = run.__dict__.get("_spec_model")
    if model is None:
        sha256 = _spec_sha256(run.log_id, run.spec_id)
        model = run.__dict__["_spec_model"] = _parsed(run.spec_id, sha256)
    return model
