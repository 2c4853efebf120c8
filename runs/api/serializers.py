"""Request and answer shapes of runs and job logs.

Answers are built by runs.selectors (run_summary, run_status_document,
log_lines); the answer serializers here describe them for the OpenAPI schema.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from runs.models import JobPhase, Run, RunPhase
from runs.services import RERUN_SPECS
from workflows.api.serializers import SpecTextField, StrictCharField

MAX_LOG_LINES = 5000


@extend_schema_field(
    {
        "oneOf": [{"type": "object"}, {"type": "string"}],
        "nullable": True,
        "description": "A mapping, or the text of a JSON or YAML inputs document.",
    }
)
class RunInputsField(serializers.Field):
    """A run's inputs: a mapping, the text of a JSON or YAML inputs document, or null."""

    default_error_messages = {
        "invalid": 'must be a mapping such as {{"inputs": {{"NAME": {{"value": "..."}}}}}}, '
        "the text of a JSON or YAML inputs document, or null"
    }

    def __init__(self, **kwargs) -> None:
        super().__init__(allow_null=True, required=False, default=None, **kwargs)

    def to_internal_value(self, data):
        if data is not None and not isinstance(data, dict | str):
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


class RunSubmitSerializer(serializers.Serializer):
    spec = SpecTextField(
        trim_whitespace=False,
        help_text="The spec's YAML text, or \"default\" for the workflow's default spec.",
    )
    inputs = RunInputsField(help_text="Values for the spec's inputs; overrides its defaults.")
    clusterId = StrictCharField(
        required=False,
        allow_null=True,
        default=None,
        max_length=64,
        help_text='A cluster handle of the workflow\'s team ("local" when left out).',
    )
    markDefault = serializers.BooleanField(
        required=False, default=False, help_text="Make this spec the workflow's default."
    )


class RerunSerializer(serializers.Serializer):
    spec = serializers.ChoiceField(
        choices=list(RERUN_SPECS),
        default="same",
        help_text='"same": the spec of the run re-run; "default": the workflow\'s default spec; '
        '"failed": the same spec, running only the jobs that did not succeed (the others keep '
        "their outputs).",
    )


def _choices(raw: str, allowed: list[str], what: str, normalize) -> list[str]:
    values = [normalize(value.strip()) for value in raw.split(",") if value.strip()]
    wrong = [value for value in values if value not in allowed]
    if wrong:
        raise serializers.ValidationError(
            f"{what} {', '.join(wrong)} is not one of {', '.join(allowed)}"
        )
    return values


class RunFilterSerializer(serializers.Serializer):
    phase = serializers.CharField(required=False, help_text="Comma-separated run phases.")
    reason = serializers.CharField(
        required=False, help_text="Comma-separated reasons: manual, rerun, trigger."
    )

    def validate_phase(self, value: str) -> list[str]:
        return _choices(value, list(RunPhase.values), "phase", str.upper)

    def validate_reason(self, value: str) -> list[str]:
        return _choices(value, list(Run.Reason.values), "reason", str.lower)


class LogQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(
        required=False, default=0, min_value=0, help_text="Lines after this number (from 0)."
    )
    limit = serializers.IntegerField(
        required=False,
        default=1000,
        min_value=1,
        help_text=f"At most this many lines (capped at {MAX_LOG_LINES}).",
    )

    def validate_limit(self, value: int) -> int:
        return min(value, MAX_LOG_LINES)


# -- answers, for the schema -----------------------------------------------


class ClusterRefSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The cluster's handle.")
    kind = serializers.CharField()


class RunSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The run's number in its workflow (1, 2, 3 …).")
    number = serializers.IntegerField()
    workflowId = serializers.UUIDField()
    cluster = ClusterRefSerializer()
    phase = serializers.ChoiceField(choices=RunPhase.choices)
    cancelRequested = serializers.BooleanField(help_text="A cancel was asked for.")
    created = serializers.DateTimeField()
    started = serializers.DateTimeField(allow_null=True)
    finished = serializers.DateTimeField(allow_null=True)
    logId = serializers.CharField()
    reason = serializers.ChoiceField(choices=Run.Reason.choices)
    rerunOf = serializers.IntegerField(allow_null=True)
    trigger = serializers.JSONField(allow_null=True)
    createdBy = serializers.CharField(allow_null=True)


class JobStatusSerializer(serializers.Serializer):
    # Not an enum in the schema: two enums under one property name ("phase") would
    # need a naming override in SPECTACULAR_SETTINGS.
    phase = serializers.CharField(help_text=f"One of {', '.join(JobPhase.values)}.")
    started = serializers.DateTimeField(allow_null=True)
    finished = serializers.DateTimeField(allow_null=True)
    logId = serializers.CharField()
    attempt = serializers.IntegerField()
    exitCode = serializers.IntegerField(allow_null=True)
    message = serializers.CharField()
    outputs = serializers.JSONField(
        help_text='Output name -> {"value": text} for a string (secret values masked), '
        '{"dataset": {"id": "NAME:vN", "isCommitted", "versionId"}} for a dataset, '
        '{"volume": {"id"}} for a volume (runs.values).'
    )
    reusedFrom = serializers.IntegerField(
        allow_null=True,
        help_text="Set when a re-run of failed jobs kept this job: the run where it succeeded.",
    )


class RunStatusSerializer(serializers.Serializer):
    phase = serializers.ChoiceField(choices=RunPhase.choices)
    started = serializers.DateTimeField(allow_null=True)
    finished = serializers.DateTimeField(allow_null=True)
    logId = serializers.CharField()
    message = serializers.CharField()
    inputs = serializers.JSONField(help_text="Workflow inputs, datasets pinned as NAME:vN.")
    jobs = serializers.DictField(child=JobStatusSerializer())


class RunStatusDocumentSerializer(RunSummarySerializer):
    spec = serializers.JSONField(help_text="The spec as submitted, as JSON.")
    inputs = serializers.JSONField(help_text="The inputs as supplied.")
    status = RunStatusSerializer()


class LogLineSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    timestamp = serializers.CharField()
    message = serializers.CharField()


class LogPageSerializer(serializers.Serializer):
    lines = LogLineSerializer(many=True)
    next = serializers.IntegerField(help_text="Pass as `after` to get the following lines.")
    finished = serializers.BooleanField(help_text="The job has ended and every line has been sent.")
